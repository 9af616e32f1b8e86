#!/bin/bash
# A proxyseg study on N nodes with MPI (docs/cluster.md): rank 0 drives (journal,
# algorithm, report), every other rank runs one trial at a time. Submit with
#   sbatch scripts/slurm_study.sh study.json /shared/studies/my_study
# The study folder must be on a filesystem every node sees. Re-submitting the
# same command resumes the study (the journal keeps what finished).
#SBATCH --job-name=proxyseg-study
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=8        # ranks per node: one per GPU, or one per group of cores
#SBATCH --cpus-per-task=4          # each worker rank's trials get these cores (OMP_NUM_THREADS below)
#SBATCH --time=24:00:00
set -euo pipefail
config=${1:?study config}; out=${2:?study folder on a shared filesystem}
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
# --kill-on-bad-exit=0: a worker rank that dies fails its trial (FAIL, or once
# more with "retry_failed": true), the others go on; if rank 0 dies the workers
# see its driver.lock go stale and exit, and re-submitting resumes.
srun --mpi=pmix --kill-on-bad-exit=0 proxyseg study --config "$config" --out "$out"
