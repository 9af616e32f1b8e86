/* The RL search's controller (internal to search/): an LSTM built on the
 * engine's tape that reads the previous strategy x_{i-1} in [0,1]^d and emits,
 * per searched key, a distribution over the next value: Beta(α, β) for
 * float/int keys, a softmax over choices for categorical keys. The policy's
 * densities, entropies and their derivatives are computed here in plain C and
 * joined to the tape with ps_tape_backward_seed. */
#ifndef PS_SEARCH_RL_CONTROLLER_H
#define PS_SEARCH_RL_CONTROLLER_H
#include "proxyseg/ops.h"
#include "proxyseg/search.h"

typedef struct rl_controller rl_controller;

/* hidden: LSTM width; init_seed: weight initialisation. */
rl_controller *rl_ctrl_create(const ps_space *s, int hidden, uint64_t init_seed);
void rl_ctrl_free(rl_controller *c);
ps_params *rl_ctrl_params(rl_controller *c);
int rl_ctrl_dim(const rl_controller *c);
/* Width of one step's output vector (2 per continuous key + n per categorical). */
int rl_ctrl_out_width(const rl_controller *c);

/* One LSTM step on the tape: x_prev [d] (copied), h/cell [1, H] or NULL (zeros).
 * *out [1, M]: Beta pre-activations u (α = 1 + softplus(u_α), β = 1 + softplus(u_β))
 * for continuous keys, probabilities for categorical ones. */
ps_status rl_ctrl_step(rl_controller *c, ps_tape *t, const double *x_prev, ps_tensor *h, ps_tensor *cell,
                       ps_tensor **h_out, ps_tensor **cell_out, ps_tensor **out);

/* log π(x | out) summed over keys; *entropy (optional) the policy's entropy.
 * dlogp / dent (optional, M floats) receive d/d(out) of each. */
double rl_ctrl_logp(const rl_controller *c, const float *out, const double *x, double *entropy, double *dlogp,
                    double *dent);
/* Draw x ~ π(· | out). Categorical keys get x = (choice + 0.5) / n. */
void rl_ctrl_sample(const rl_controller *c, const float *out, ps_rng *rng, double *x);

/* Run the K-step chain anchor → a_0 → … → a_{K-1} on the tape (grad enabled)
 * and return the step outputs outs[k] (each [1, M]). The tape is reset first. */
ps_status rl_ctrl_chain(rl_controller *c, ps_tape *t, const double *anchor, const double *actions, int K,
                        ps_tensor **outs);

/* PPO's clipped surrogate over one round (to be minimised):
 *   L = -(1/K) Σ_k min(ρ_k A_k, clip(ρ_k, 1-ε, 1+ε) A_k) - ent_coef (1/K) Σ_k H_k,
 *   ρ_k = exp(log π(a_k) - logp_old_k).
 * With want_grad the parameters' gradients are zeroed and then set to dL/dθ. */
ps_status rl_ppo_loss(rl_controller *c, ps_tape *t, const double *anchor, const double *actions, int K,
                      const double *logp_old, const double *adv, double clip_eps, double ent_coef, bool want_grad,
                      double *loss);
#endif
