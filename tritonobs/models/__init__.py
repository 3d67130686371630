"""The Triton model repository: validation (`config_check`), the lab repository (`lab_repository`) and
the model code that runs inside Triton (`serving`: model.py, vllm_engine.py, sim_engine.py)."""
