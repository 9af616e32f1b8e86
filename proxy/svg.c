/* SVG plot primitives for the HTML report (see svg.h): a string buffer that
 * escapes text, axes with 1-2-5 ticks or decade ticks, and simple marks. The
 * output is plain inline SVG styled by the page's CSS classes. */
#include "svg.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(ps_sbuf *b, size_t add) {
  if (b->oom) return 0;
  if (b->n + add + 1 <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->n + add + 1) cap *= 2;
  char *s = realloc(b->s, cap);
  if (!s) { b->oom = 1; return 0; }
  b->s = s;
  b->cap = cap;
  return 1;
}

void ps_sbuf_puts(ps_sbuf *b, const char *s) {
  size_t k = strlen(s);
  if (!grow(b, k)) return;
  memcpy(b->s + b->n, s, k + 1);
  b->n += k;
}

void ps_sbuf_printf(ps_sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (k < 0 || !grow(b, (size_t)k)) return;
  va_start(ap, fmt);
  vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)k;
}

void ps_sbuf_escape(ps_sbuf *b, const char *s) {
  if (!s) return;
  for (; *s; s++) {
    switch (*s) {
    case '&': ps_sbuf_puts(b, "&amp;"); break;
    case '<': ps_sbuf_puts(b, "&lt;"); break;
    case '>': ps_sbuf_puts(b, "&gt;"); break;
    case '"': ps_sbuf_puts(b, "&quot;"); break;
    case '\'': ps_sbuf_puts(b, "&#39;"); break;
    default: {
      char c[2] = {*s, 0};
      /* control characters other than tab/newline have no business in a page */
      if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n') c[0] = '?';
      ps_sbuf_puts(b, c);
    }
    }
  }
}

void ps_sbuf_free(ps_sbuf *b) {
  if (!b) return;
  free(b->s);
  memset(b, 0, sizeof *b);
}

/* ---- axes ---- */

static double nice_step(double range, int target) {
  if (!(range > 0)) return 1;
  double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
  double m = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return m * mag;
}

void ps_svg_axis_range(ps_svg_axis *a, double lo, double hi) {
  a->is_log = 0;
  a->cat = NULL;
  a->n_cat = 0;
  if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
  a->lo = lo;
  a->hi = hi;
}

void ps_svg_axis_categories(ps_svg_axis *a, const char *const *cat, int n_cat) {
  a->is_log = 0;
  a->cat = cat;
  a->n_cat = n_cat;
  a->lo = -0.6;
  a->hi = n_cat - 0.4;
}

void ps_svg_axis_fit(ps_svg_axis *a, const double *v, int n, int allow_log) {
  double lo = INFINITY, hi = -INFINITY;
  int pos = 1;
  for (int i = 0; i < n; i++) {
    if (!isfinite(v[i])) continue;
    if (v[i] < lo) lo = v[i];
    if (v[i] > hi) hi = v[i];
    if (v[i] <= 0) pos = 0;
  }
  if (lo > hi) { ps_svg_axis_range(a, 0, 1); return; }
  if (allow_log && pos && hi / lo >= 100) {
    ps_svg_axis_range(a, log10(lo), log10(hi));
    double pad = 0.05 * (a->hi - a->lo);
    a->lo -= pad;
    a->hi += pad;
    a->is_log = 1;
    return;
  }
  if (hi == lo) {
    double d = lo != 0 ? 0.1 * fabs(lo) : 0.5;
    lo -= d;
    hi += d;
  } else {
    double pad = 0.06 * (hi - lo);
    lo -= pad;
    hi += pad;
  }
  ps_svg_axis_range(a, lo, hi);
}

double ps_svg_map(const ps_svg_axis *a, double v) {
  if (a->is_log) v = v > 0 ? log10(v) : NAN;
  return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

void ps_svg_fmt_tick(char *buf, size_t n, double v, double step) {
  if (fabs(v) < 1e-12 * (fabs(step) + 1e-300)) v = 0;
  double av = fabs(v);
  if (v != 0 && (av >= 1e5 || av < 1e-3)) { snprintf(buf, n, "%.2g", v); return; }
  int dec = step > 0 ? (int)ceil(-log10(step) - 1e-9) : 0;
  if (dec < 0) dec = 0;
  if (dec > 6) dec = 6;
  snprintf(buf, n, "%.*f", dec, v);
}

/* ---- plot frame ---- */

static double px(const ps_svg_plot *p, double x) { return ps_svg_map(&p->x, x); }
static double py(const ps_svg_plot *p, double y) { return ps_svg_map(&p->y, y); }

/* Tick positions in axis space and their labels. */
static int axis_ticks(const ps_svg_axis *a, double *t, char lab[][32], int cap) {
  int k = 0;
  if (a->n_cat > 0) {
    for (int i = 0; i < a->n_cat && k < cap; i++, k++) {
      t[k] = i;
      snprintf(lab[k], 32, "%.24s%s", a->cat[i], strlen(a->cat[i]) > 24 ? "…" : "");
    }
    return k;
  }
  if (a->is_log) {
    double d0 = ceil(a->lo - 1e-9), d1 = floor(a->hi + 1e-9);
    int decades = (int)(d1 - d0) + 1;
    for (double d = floor(a->lo); d <= a->hi && k < cap; d++) {
      static const double sub[3] = {1, 2, 5};
      for (int s = 0; s < 3 && k < cap; s++) {
        if (decades > 3 && s > 0) continue; /* only decades when there are many */
        double lv = d + log10(sub[s]);
        if (lv < a->lo - 1e-9 || lv > a->hi + 1e-9) continue;
        t[k] = lv;
        snprintf(lab[k], 32, "%g", sub[s] * pow(10, d));
        k++;
      }
    }
    return k;
  }
  double step = nice_step(a->hi - a->lo, 5);
  if (a->integer && step < 1) step = 1;
  for (double v = ceil(a->lo / step - 1e-9) * step; v <= a->hi + 1e-9 * step && k < cap; v += step) {
    t[k] = v;
    ps_svg_fmt_tick(lab[k], 32, v, step);
    k++;
  }
  return k;
}

void ps_svg_begin(ps_svg_plot *p, ps_sbuf *b, int w, int h, const char *title, const char *xlabel,
                  const char *ylabel) {
  p->b = b;
  p->w = w;
  p->h = h;
  if (!p->ml) p->ml = 62;
  if (!p->mr) p->mr = 18;
  if (!p->mt) p->mt = 50; /* title, then the legend row */
  if (!p->mb) p->mb = p->x.n_cat > 6 ? 92 : 46;
  p->x.p0 = p->ml;
  p->x.p1 = w - p->mr;
  p->y.p0 = h - p->mb; /* y grows upwards */
  p->y.p1 = p->mt;
  ps_sbuf_printf(b, "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\"", w, h, w, h);
  if (title) { ps_sbuf_puts(b, " aria-label=\""); ps_sbuf_escape(b, title); ps_sbuf_puts(b, "\""); }
  ps_sbuf_puts(b, ">\n");
  /* a <title> child is what screen readers and hover tooltips use for the whole figure */
  if (title) { ps_sbuf_puts(b, "<title>"); ps_sbuf_escape(b, title); ps_sbuf_puts(b, "</title>\n"); }
  ps_sbuf_printf(b, "<rect class=\"bg\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", p->ml, p->mt,
                 w - p->ml - p->mr, h - p->mt - p->mb);
  double t[64];
  char lab[64][32];
  int nt = axis_ticks(&p->x, t, lab, 64);
  for (int i = 0; i < nt; i++) {
    double X = p->x.p0 + (t[i] - p->x.lo) / (p->x.hi - p->x.lo) * (p->x.p1 - p->x.p0);
    ps_sbuf_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", X, p->mt, X, h - p->mb);
    ps_sbuf_printf(b, "<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", X, h - p->mb, X, h - p->mb + 5);
    if (p->x.n_cat > 6) {
      ps_sbuf_printf(b, "<text class=\"ticklab\" text-anchor=\"end\" transform=\"translate(%.1f,%d) rotate(-40)\">", X + 3, h - p->mb + 14);
    } else {
      ps_sbuf_printf(b, "<text class=\"ticklab\" text-anchor=\"middle\" x=\"%.1f\" y=\"%d\">", X, h - p->mb + 18);
    }
    ps_sbuf_escape(b, lab[i]);
    ps_sbuf_puts(b, "</text>\n");
  }
  nt = axis_ticks(&p->y, t, lab, 64);
  for (int i = 0; i < nt; i++) {
    double Y = p->y.p0 + (t[i] - p->y.lo) / (p->y.hi - p->y.lo) * (p->y.p1 - p->y.p0);
    ps_sbuf_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", p->ml, Y, w - p->mr, Y);
    ps_sbuf_printf(b, "<line class=\"tick\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", p->ml - 5, Y, p->ml, Y);
    ps_sbuf_printf(b, "<text class=\"ticklab\" text-anchor=\"end\" x=\"%d\" y=\"%.1f\">", p->ml - 8, Y + 4);
    ps_sbuf_escape(b, lab[i]);
    ps_sbuf_puts(b, "</text>\n");
  }
  ps_sbuf_printf(b, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", p->ml, p->mt,
                 w - p->ml - p->mr, h - p->mt - p->mb);
  if (title) {
    ps_sbuf_printf(b, "<text class=\"ptitle\" x=\"%d\" y=\"%d\">", p->ml, 18);
    ps_sbuf_escape(b, title);
    ps_sbuf_puts(b, "</text>\n");
  }
  if (xlabel) {
    ps_sbuf_printf(b, "<text class=\"axlab\" text-anchor=\"middle\" x=\"%.1f\" y=\"%d\">", (p->x.p0 + p->x.p1) / 2, h - 8);
    ps_sbuf_escape(b, xlabel);
    if (p->x.is_log) ps_sbuf_puts(b, " (log scale)");
    ps_sbuf_puts(b, "</text>\n");
  }
  if (ylabel) {
    ps_sbuf_printf(b, "<text class=\"axlab\" text-anchor=\"middle\" transform=\"translate(16,%.1f) rotate(-90)\">", (p->y.p0 + p->y.p1) / 2);
    ps_sbuf_escape(b, ylabel);
    if (p->y.is_log) ps_sbuf_puts(b, " (log scale)");
    ps_sbuf_puts(b, "</text>\n");
  }
  /* marks drawn later are clipped to the plotting area */
  int id = ++b->ids;
  ps_sbuf_printf(b, "<clipPath id=\"clip%d\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath><g clip-path=\"url(#clip%d)\">\n",
                 id, p->ml, p->mt, w - p->ml - p->mr, h - p->mt - p->mb, id);
}

void ps_svg_end(ps_svg_plot *p) {
  ps_sbuf *b = p->b;
  ps_sbuf_puts(b, "</g>\n");
  double X = p->ml, Y = p->mt - 9;
  for (int i = 0; i < p->n_leg; i++) {
    if (!p->leg[i].kind) continue;
    if (p->leg[i].kind == 'o')
      ps_sbuf_printf(b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\"/>", p->leg[i].cls, X + 6, Y - 4);
    else
      ps_sbuf_printf(b, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", p->leg[i].cls, X, Y - 4, X + 16, Y - 4);
    ps_sbuf_printf(b, "<text class=\"leg\" x=\"%.1f\" y=\"%.1f\">", X + 21, Y);
    ps_sbuf_escape(b, p->leg[i].label);
    ps_sbuf_puts(b, "</text>\n");
    X += 21 + 6.2 * (double)strlen(p->leg[i].label) + 16; /* ~6 px per 11 px glyph */
  }
  ps_sbuf_puts(b, "</svg>\n");
}

void ps_svg_point(ps_svg_plot *p, double x, double y, double r, const char *cls, const char *tip) {
  double X = px(p, x), Y = py(p, y);
  if (!isfinite(X) || !isfinite(Y)) return;
  ps_sbuf_printf(p->b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\">", cls, X, Y, r);
  if (tip) { ps_sbuf_puts(p->b, "<title>"); ps_sbuf_escape(p->b, tip); ps_sbuf_puts(p->b, "</title>"); }
  ps_sbuf_puts(p->b, "</circle>\n");
}

void ps_svg_line(ps_svg_plot *p, double x0, double y0, double x1, double y1, const char *cls) {
  double X0 = px(p, x0), Y0 = py(p, y0), X1 = px(p, x1), Y1 = py(p, y1);
  if (!isfinite(X0) || !isfinite(Y0) || !isfinite(X1) || !isfinite(Y1)) return;
  ps_sbuf_printf(p->b, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", cls, X0, Y0, X1, Y1);
}

void ps_svg_polyline(ps_svg_plot *p, const double *x, const double *y, int n, int step, const char *cls) {
  ps_sbuf_printf(p->b, "<polyline class=\"%s\" points=\"", cls);
  double lastY = NAN;
  for (int i = 0; i < n; i++) {
    double X = px(p, x[i]), Y = py(p, y[i]);
    if (!isfinite(X) || !isfinite(Y)) continue;
    if (step && isfinite(lastY)) ps_sbuf_printf(p->b, "%.1f,%.1f ", X, lastY);
    ps_sbuf_printf(p->b, "%.1f,%.1f ", X, Y);
    lastY = Y;
  }
  ps_sbuf_puts(p->b, "\"/>\n");
}

void ps_svg_bar(ps_svg_plot *p, double x, double width, double base, double y, const char *cls, const char *tip) {
  double X0 = px(p, x - width / 2), X1 = px(p, x + width / 2), Y0 = py(p, base), Y1 = py(p, y);
  if (!isfinite(X0) || !isfinite(X1) || !isfinite(Y0) || !isfinite(Y1)) return;
  ps_sbuf_printf(p->b, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">", cls,
                 fmin(X0, X1), fmin(Y0, Y1), fabs(X1 - X0), fabs(Y1 - Y0));
  if (tip) { ps_sbuf_puts(p->b, "<title>"); ps_sbuf_escape(p->b, tip); ps_sbuf_puts(p->b, "</title>"); }
  ps_sbuf_puts(p->b, "</rect>\n");
}

void ps_svg_text(ps_svg_plot *p, double x, double y, const char *anchor, const char *cls, const char *text) {
  double X = px(p, x), Y = py(p, y);
  if (!isfinite(X) || !isfinite(Y)) return;
  ps_sbuf_printf(p->b, "<text class=\"%s\" text-anchor=\"%s\" x=\"%.1f\" y=\"%.1f\">", cls, anchor, X, Y);
  ps_sbuf_escape(p->b, text);
  ps_sbuf_puts(p->b, "</text>\n");
}

void ps_svg_legend(ps_svg_plot *p, int row, char kind, const char *cls, const char *label) {
  if (row < 0 || row >= 6) return;
  if (row >= p->n_leg) p->n_leg = row + 1;
  p->leg[row].kind = kind;
  snprintf(p->leg[row].cls, sizeof p->leg[row].cls, "%s", cls);
  snprintf(p->leg[row].label, sizeof p->leg[row].label, "%s", label);
}
