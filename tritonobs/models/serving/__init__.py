"""The model code that runs inside Triton (one source): `model.py` with `vllm_engine.py`, `engine_metrics.py` and
`engine_processes.py` ship into each model's version folder (model_repository/<model>/1/ links here; `models sync`
and the lab copy them), `sim_engine.py` joins them in the lab. Only `sim_engine` is imported by tritonobs itself
(the lab's parameters and tests)."""
