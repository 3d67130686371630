"""The Triton model repository: validation (`config_check`), the lab repository (`lab_repository`) and
the simulated engine the lab ships beside model.py (`sim_engine`)."""
