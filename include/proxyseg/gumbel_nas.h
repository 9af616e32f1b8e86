/* Gumbel-softmax NAS (SCNAS, Kim et al. MICCAI 2019): the trainer plugin that
 * takes the architecture steps of the bi-level search, and the one-shot search
 * run behind `proxyseg search --algo gumbel-nas`. The super-network and
 * Algorithm 1 live in the "cells" model family (proxyseg/nn.h). */
#ifndef PROXYSEG_GUMBEL_NAS_H
#define PROXYSEG_GUMBEL_NAS_H

#include "proxyseg/study.h"
#include "proxyseg/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Plugin options (all optional):
 *   tau_max 10, tau_min 0.1, tau_schedule "linear" (GDAS: tau = tau_max - (tau_max - tau_min) * e/(E-1)
 *   at epoch e of E) | "exponential" (tau_max * (tau_min/tau_max)^(e/(E-1)));
 *   alpha_lr 3e-3, alpha_beta1 0.5, alpha_beta2 0.999, alpha_weight_decay 0 (the paper's Adam for alpha);
 *   warmup_epochs 0 (epochs of weight steps only).
 * Needs the 4:1 holdout: weights are fitted on 4/5 of the training cases, alpha
 * on mini-batches of the other 1/5, one alpha step after each weight step.
 * Writes genotype.json (the derived arch, nn.h's rule), genotype.svg (the cells
 * drawn) and alpha_history.json (softmax(alpha) per epoch) into the run's folder. */
extern const ps_train_plugin ps_gumbel_nas_plugin;
/* The derived cells of a genotype arch drawn as SVG (one panel per cell type), written atomically. */
ps_status ps_gumbel_nas_svg(const cJSON *arch, const char *path);
/* The temperature at epoch e of E under these options. */
double ps_gumbel_nas_tau(const cJSON *opts, int epoch, int epochs);

/* `search --algo gumbel-nas` (ps_search_phase dispatches here): one trial
 * that trains the super-network of base_config["net"] (family "cells" without a
 * genotype) with the plugin; a killed search's re-run resumes it from its
 * checkpoint. Search defaults replace the trainer's optimiser: Adam, lr
 * algo_opts.weights_lr (1e-3), betas weights_beta1/2 (0.9, 0.999), reduce-on-
 * plateau by 10 after 20 validations without gain (the paper's factor and
 * patience); algo_opts.net (a study's super-network, already applied to
 * base_config) is dropped; the other algo_opts go to the plugin. */
ps_status ps_gumbel_search_phase(const ps_phase_opts *o);

#ifdef __cplusplus
}
#endif
#endif
