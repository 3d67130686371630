"""`tritonobs tune`: measure one replica's capacity (the knee) and recommend the scaling signal's target."""
