#!/usr/bin/env bash
# Run the whole study: creates the environment on first use, then executes the
# step notebooks through papermill, then one notebook per family
# (notebooks/models/<family>.ipynb; they read the study's runs and retrain
# nothing; --no-models skips them). Options go to `python -m aelib.study.cli run`:
#   ./run_all.sh                                 # quick profile, all families, all steps
#   ./run_all.sh --profile thesis                # the seed's full grids (GPU)
#   ./run_all.sh --families fcae,vae --steps 02,04 --z 2,40 --out /content/drive/MyDrive/aelib
#   ./run_all.sh --shard 0/3                     # one of three machines/sessions
#   ./run_all.sh --executor slurm --partition gpu
set -euo pipefail
cd "$(dirname "$0")"
./scripts/setup_env.sh
exec .venv/bin/python -m aelib.study.cli run --models "$@"
