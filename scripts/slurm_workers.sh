#!/bin/bash
# A proxyseg study shared through the filesystem, without MPI (docs/cluster.md):
# array task 0 is the driver (it queues trials in the study folder), every other
# array task is a `proxyseg worker` that claims queued trials through a lock
# with heartbeats. Workers may join and leave at any time. Submit with
#   sbatch --array=0-16 scripts/slurm_workers.sh study.json /shared/studies/my_study
#SBATCH --job-name=proxyseg-workers
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
set -euo pipefail
config=${1:?study config}; out=${2:?study folder on a shared filesystem}
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
if [ "${SLURM_ARRAY_TASK_ID:-0}" = 0 ]; then
  # the config has "file_workers": true and "jobs": the number of worker tasks
  exec proxyseg study --config "$config" --out "$out"
else
  mkdir -p "$out"
  # exits once no driver holds the study and nothing was queued for 10 minutes
  exec proxyseg worker --study "$out" --idle-exit 600
fi
