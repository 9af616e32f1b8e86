/* Tape mechanics: recording rules, gradient pool reuse, params arena layout. */
#include "proxyseg/tensor.h"
#include "testutil.h"
#include <string.h>

/* y = 2*x, written without the ops library so the tape is tested alone */
static ps_status dbl_backward(ps_tape *t, ps_node *n) {
  float *gx = ps_tape_grad(t, n->in[0], NULL);
  if (!gx) return PS_ERR_NOMEM;
  for (int64_t i = 0; i < n->out->numel; i++) gx[i] += 2 * n->out->grad[i];
  return PS_OK;
}
static ps_tensor *dbl(ps_tape *t, ps_tensor *x) {
  ps_tensor *y = ps_tape_tensor_like(t, x);
  for (int64_t i = 0; i < x->numel; i++) y->data[i] = 2 * x->data[i];
  ps_tape_record(t, "dbl", dbl_backward, y, 1, &x, NULL);
  return y;
}
static ps_status sum_backward(ps_tape *t, ps_node *n) {
  float *gx = ps_tape_grad(t, n->in[0], NULL);
  if (!gx) return PS_ERR_NOMEM;
  for (int64_t i = 0; i < n->in[0]->numel; i++) gx[i] += n->out->grad[0];
  return PS_OK;
}
static ps_tensor *sum(ps_tape *t, ps_tensor *x) {
  int64_t one = 1;
  ps_tensor *y = ps_tape_tensor(t, 1, &one);
  y->data[0] = 0;
  for (int64_t i = 0; i < x->numel; i++) y->data[0] += x->data[i];
  ps_tape_record(t, "sum", sum_backward, y, 1, &x, NULL);
  return y;
}

int main(void) {
  ps_params *p = ps_params_create();
  int64_t s3[1] = {3}, s5[2] = {1, 5};
  ps_tensor *a = ps_params_add(p, "a", 1, s3);
  ps_tensor *b = ps_params_add(p, "b", 2, s5);
  CHECK(ps_params_add(p, "a", 1, s3) == NULL, "duplicate name accepted");
  CHECK_OK(ps_params_finalize(p));
  CHECK(ps_params_offset(p, 1) % 16 == 0, "alignment");
  CHECK(ps_params_find(p, "b") == b && b->data == ps_params_data(p) + ps_params_offset(p, 1), "layout");
  for (int i = 0; i < 3; i++) a->data[i] = (float)i;

  ps_tape *t = ps_tape_create();
  for (int step = 0; step < 3; step++) {
    ps_params_zero_grad(p);
    ps_tape_reset(t);
    /* x used twice: gradients from both uses must add */
    ps_tensor *x = dbl(t, a);
    ps_tensor *y = dbl(t, x);
    ps_tensor *both[2] = {x, y};
    (void)both;
    ps_tensor *l1 = sum(t, x), *l2 = sum(t, y);
    /* l = l1 + l2 via one more node */
    ps_tensor *cat = ps_tape_tensor(t, 1, (int64_t[]){1});
    cat->data[0] = l1->data[0] + l2->data[0];
    CHECK_NEAR(cat->data[0], 2 * 3 + 4 * 3, 1e-6);
    CHECK_OK(ps_tape_backward(t, l1));
    CHECK_OK(ps_tape_backward(t, l2));
    for (int i = 0; i < 3; i++) CHECK_NEAR(a->grad[i], 2 + 4, 1e-6);
  }
  /* no grad mode records nothing */
  ps_tape_reset(t);
  ps_tape_set_grad_enabled(t, false);
  ps_tensor *z = dbl(t, a);
  CHECK(ps_tape_node_count(t) == 0 && !z->requires_grad, "recorded in no-grad mode");
  ps_tape_set_grad_enabled(t, true);
  /* constants do not record */
  float c[3] = {1, 2, 3};
  ps_tensor *k = ps_tape_wrap(t, c, 1, s3);
  ps_tensor *kk = dbl(t, k);
  CHECK(ps_tape_node_count(t) == 0 && !kk->requires_grad, "constant recorded");
  CHECK(ps_tape_backward(t, sum(t, kk)) == PS_ERR_INVALID, "backward without parameters");
  /* non-finite loss is a status */
  ps_tensor *nanl = sum(t, a);
  nanl->data[0] = NAN;
  CHECK(ps_tape_backward(t, nanl) == PS_ERR_NONFINITE, "NaN loss");
  ps_params_zero_grad(p);
  b->grad[2] = INFINITY;
  CHECK(!ps_params_grad_finite(p), "inf grad");
  ps_tape_free(t);
  ps_params_free(p);
  ps_tape_free(NULL);
  ps_params_free(NULL);
  return ps_test_done("test_tape");
}
