"""Built-in demo task ``Demo-PointMass-v0``: a torch-batched point-mass env and an Isaac-Lab-like RSL-RL train CLI.

It lets every part of hpc_sweep run end to end with real PPO training where Isaac Sim is not installed.
"""
