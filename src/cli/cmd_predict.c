/* proxyseg predict: sliding-window prediction with a trained checkpoint. Each
 * input is preprocessed with the plan stored in the checkpoint, predicted, and
 * mapped back (uncrop, resample, reorient) so the written label map has the
 * input's own shape, affine and orientation and overlays it in any viewer. */
#include "cli.h"
#include "proxyseg/infer.h"
#include "proxyseg/nifti.h"
#include "proxyseg/preprocess.h"
#include "proxyseg/train.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static bool is_nifti(const char *name) {
  size_t n = strlen(name);
  if (name[0] == '.') return false; /* ._x and .DS_Store, hidden files */
  return (n > 4 && !strcmp(name + n - 4, ".nii")) || (n > 7 && !strcmp(name + n - 7, ".nii.gz"));
}

static ps_status predict_one(ps_net *net, const cJSON *cfg, const cJSON *plan, const char *in, const char *out_dir,
                             double overlap, bool mirror) {
  ps_volume img = {0};
  ps_labelmap pred = {0}, orig = {0};
  cJSON *props = NULL;
  float *probs = NULL;
  ps_tape *tape = ps_tape_create();
  ps_status st = ps_nifti_read(in, &img, NULL);
  if (!st && img.c != ps_net_in_channels(net))
    st = ps_error(PS_ERR_DATA, "%s: %lld channels, the model expects %d", in, (long long)img.c, ps_net_in_channels(net));
  if (!st) st = ps_preprocess_case(plan, &img, NULL, &props);
  int K = ps_net_n_classes(net);
  ps_net_predictor P = {net, tape, (int)img.c, K, {0, 0, 0}};
  const cJSON *patch = cJSON_GetObjectItemCaseSensitive(cfg, "patch");
  for (int a = 0; a < 3; a++) P.patch[a] = cJSON_GetArrayItem(patch, a)->valueint;
  if (!st) {
    probs = malloc((size_t)(img.d * img.h * img.w * K) * sizeof(float));
    if (!probs) st = ps_error(PS_ERR_NOMEM, "%s: out of memory", in);
  }
  if (!st) st = ps_sliding_window(&img, P.patch, K, overlap, true, mirror, 2, ps_net_predict_patches, &P, probs);
  if (!st) st = ps_probs_argmax(probs, K, img.d, img.h, img.w, &img, &pred);
  if (!st) st = ps_preprocess_invert_labels(props, &pred, &orig);
  if (!st) {
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    char *name = ps_strdup(base);
    char *suffix = strstr(name, "_0000.nii"); /* nnU-Net channel files: CASE_0000.nii.gz → CASE.nii.gz */
    if (suffix) memmove(suffix, suffix + 5, strlen(suffix + 5) + 1);
    char *op = ps_path_join(out_dir, name);
    st = ps_nifti_write_labels(op, &orig);
    if (!st) ps_info("%s -> %s", in, op);
    free(op);
    free(name);
  }
  free(probs);
  ps_volume_free(&img);
  ps_labelmap_free(&pred);
  ps_labelmap_free(&orig);
  cJSON_Delete(props);
  ps_tape_free(tape);
  return st;
}

static void usage(FILE *f) {
  fprintf(f, "usage: proxyseg predict --model CKPT --input FILE|DIR --out DIR [--overlap 0.5] [--mirror]\n"
             "  --model CKPT    a checkpoint.h5 (a study's best/checkpoint.h5, or train's)\n"
             "  --input         a NIfTI file, or a folder of them; nnU-Net channel files CASE_0000, CASE_0001, ...\n"
             "                  are one case\n"
             "  --out DIR       one CASE.nii.gz label map per case, in the input's own geometry\n"
             "  --overlap F     sliding-window overlap in [0, 0.95] (default 0.5)\n"
             "  --mirror        test-time mirroring along every axis (8x slower)\n");
}

int cmd_predict(int argc, char **argv) {
  const char *model = NULL, *input = NULL, *out = NULL;
  double overlap = 0.5;
  bool mirror = false;
  static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"input", required_argument, 0, 'i'},
                                       {"out", required_argument, 0, 'o'},   {"overlap", required_argument, 0, 'O'},
                                       {"mirror", no_argument, 0, 'M'},      {0, 0, 0, 0}};
  int c, rc = 0;
  optind = 1;
  while ((c = ps_cli_getopt("predict", argc, argv, opts, usage, &rc)) != -1) {
    switch (c) {
    case PS_CLI_RETURN: return rc;
    case 'm': model = optarg; break;
    case 'i': input = optarg; break;
    case 'o': out = optarg; break;
    case 'O': if (!ps_cli_num("predict", "overlap", optarg, 0, 0.95, &overlap)) return 2; break;
    case 'M': mirror = true; break;
    }
  }
  if ((rc = ps_cli_no_positional("predict", argc, argv))) return rc;
  if (!model || !input || !out) {
    fprintf(stderr, "proxyseg predict: --model, --input and --out are required\n");
    usage(stderr);
    return 2;
  }
  ps_net *net = NULL;
  cJSON *state = NULL;
  ps_status st = ps_checkpoint_load_net(model, &net);
  if (!st) st = ps_checkpoint_load(model, net, NULL, &state, NULL);
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(state, "config"), *plan = cJSON_GetObjectItemCaseSensitive(state, "plan");
  if (!st && (!cfg || !plan)) st = ps_error(PS_ERR_DATA, "%s: the checkpoint holds no training config or preprocessing plan", model);
  if (!st) st = ps_mkdir_p(out);
  if (!st) st = ps_threads_set(0);
  if (!st && ps_is_dir(input)) {
    DIR *d = opendir(input);
    if (!d) st = ps_error(PS_ERR_IO, "%s: cannot open folder", input);
    struct dirent *e;
    int n = 0;
    while (!st && d && (e = readdir(d))) {
      if (!is_nifti(e->d_name)) continue;
      char *p = ps_path_join(input, e->d_name);
      st = predict_one(net, cfg, plan, p, out, overlap, mirror);
      free(p);
      n++;
    }
    if (d) closedir(d);
    if (!st && !n) st = ps_error(PS_ERR_DATA, "%s: no .nii or .nii.gz files", input);
  } else if (!st) {
    st = predict_one(net, cfg, plan, input, out, overlap, mirror);
  }
  cJSON_Delete(state);
  ps_net_free(net);
  return st ? ps_cli_fail("predict", st) : 0;
}
