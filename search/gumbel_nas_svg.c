/* The derived cells drawn as one self-contained SVG (genotype.svg beside
 * genotype.json): a panel per cell type, the two inputs on the left, the
 * intermediate nodes, the concatenated output on the right, each kept edge
 * labelled with its op. */
#include "proxyseg/gumbel_nas.h"
#include <stdio.h>
#include <string.h>

static const char *short_op(const char *op) {
  static const char *const full[] = {"conv_3x3x3", "dil_sep_conv_3x3x3_r2", "dil_sep_conv_3x3x3_r3",
                                     "dil_sep_conv_3x3x3_r4", "max_pool_3x3x3", "avg_pool_3x3x3", "identity"};
  static const char *const brief[] = {"conv 3³", "dil-sep r2", "dil-sep r3", "dil-sep r4", "max 3³", "avg 3³", "id"};
  for (int i = 0; i < 7; i++)
    if (!strcmp(op, full[i])) return brief[i];
  return "?";
}

#define PW 340
#define PH 250

/* Node positions: inputs 0, 1 at the left, node k at column k. */
static void pos(int i, int nodes, int *x, int *y) {
  if (i < 2) { *x = 40; *y = i == 0 ? 80 : 180; return; }
  int k = i - 2;
  *x = 110 + k * (180 / (nodes > 1 ? nodes - 1 : 1));
  *y = 60 + (k % 2) * 110 + 20;
}

ps_status ps_gumbel_nas_svg(const cJSON *arch, const char *path) {
  const cJSON *g = cJSON_GetObjectItemCaseSensitive(arch, "genotype");
  if (!cJSON_IsObject(g)) return ps_error(PS_ERR_INVALID, "genotype svg: the arch has no genotype");
  static const char *const types[] = {"reduction", "encoder_normal", "expansion", "decoder_normal"};
  ps_atomic_file *af;
  FILE *f;
  ps_status st = ps_atomic_open(path, &af, &f);
  if (st) return st;
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
             "font-size=\"10\">\n<title>Derived cells (genotype)</title>\n", 2 * PW, 2 * PH);
  for (int t = 0; t < 4; t++) {
    const cJSON *cell = cJSON_GetObjectItemCaseSensitive(g, types[t]);
    int nodes = cJSON_GetArraySize(cell);
    fprintf(f, "<g transform=\"translate(%d,%d)\"><title>%s cell</title>\n", (t % 2) * PW, (t / 2) * PH, types[t]);
    fprintf(f, "<rect x=\"2\" y=\"2\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#ccc\"/>\n", PW - 4, PH - 4);
    fprintf(f, "<text x=\"10\" y=\"18\" font-size=\"13\" font-weight=\"bold\">%s</text>\n", types[t]);
    int ox = PW - 30, oy = PH / 2;
    for (int j = 0; j < nodes; j++) {
      int xj, yj;
      pos(j + 2, nodes, &xj, &yj);
      const cJSON *e;
      cJSON_ArrayForEach(e, cJSON_GetArrayItem(cell, j)) {
        int from = ps_json_int(e, "from", 0), xi, yi;
        pos(from, nodes, &xi, &yi);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#4a7\" stroke-width=\"1.5\"/>\n", xi, yi, xj, yj);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#264\">%s</text>\n", (xi + xj) / 2,
                (yi + yj) / 2 - 3, short_op(ps_json_str(e, "op", "")));
      }
      fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#bbb\" stroke-dasharray=\"3,3\"/>\n", xj, yj, ox, oy);
    }
    for (int i = 0; i < nodes + 2; i++) {
      int x, y;
      pos(i, nodes, &x, &y);
      fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"13\" fill=\"%s\" stroke=\"#333\"/>"
                 "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s%d</text>\n",
              x, y, i < 2 ? "#def" : "#fff", x, y + 4, i < 2 ? "in" : "", i < 2 ? i : i - 2);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"26\" height=\"20\" fill=\"#fed\" stroke=\"#333\"/>"
               "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">out</text></g>\n", ox - 13, oy - 10, ox, oy + 4);
  }
  fprintf(f, "</svg>\n");
  return ps_atomic_commit(af);
}
