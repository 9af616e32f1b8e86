/* Hand a study to the tools its users already run: Optuna (a JournalStorage
 * log that optuna.load_study, optuna-dashboard and every Optuna plot read), a
 * flat CSV, and nnU-Net v2 (a trainer subclass, a plans patch and the command
 * lines that train the study's best configuration). */
#ifndef PROXYSEG_EXPORT_H
#define PROXYSEG_EXPORT_H

#include "proxyseg/json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Optuna 3.1+ JournalFileStorage log of STUDY/journal.jsonl, written
 * atomically to out_path (replacing it): one Optuna study per phase ("proxy",
 * "full", ...; study_name = the phase), direction maximize; each trial with
 * its state (RUNNING, COMPLETE, PRUNED, FAIL), value, params with their
 * distributions (from the study's search space; keys outside it get a float
 * range or categorical over the values seen), intermediate values, start and
 * completion times (UTC, naive), and user attributes proxyseg_trial, phase,
 * seed, seconds, ref (re-trainings) and reason (failures). *summary (may be
 * NULL) gets {"studies": [{"name", "trials", "complete", "best"}]}. */
ps_status ps_export_optuna(const char *study_dir, const char *out_path, cJSON **summary);

/* One row per trial (number, phase, state, value, seconds, ref, seed, then one
 * column per parameter), the format of STUDY/trials.csv. */
ps_status ps_export_csv(const char *study_dir, const char *out_path);

/* nnU-Net v2 files for the study's best configuration (STUDY/best/config.json)
 * in out_dir: nnUNetTrainer_proxyseg.py (lr, epochs, iterations, optimiser,
 * weight decay, schedule, foreground oversampling, augmentation in
 * batchgeneratorsv2 transforms; the values as one JSON literal PROXYSEG),
 * plans_patch.json (a "3d_fullres_proxyseg" configuration inheriting from
 * 3d_fullres: patch, batch, the U-Net's stages, features, kernels, strides),
 * apply_plans_patch.py and train_nnunet.sh (the command lines). U-Nets only. */
ps_status ps_export_nnunet(const char *study_dir, const char *out_dir, cJSON **summary);

#ifdef __cplusplus
}
#endif
#endif
