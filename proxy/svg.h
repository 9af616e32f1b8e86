/* Small SVG plot primitives for the self-contained HTML report (internal to
 * proxy/): a growable string buffer with HTML escaping, axes with "nice" ticks
 * (linear, log10 or categorical), and marks drawn in data coordinates. */
#ifndef PS_PROXY_SVG_H
#define PS_PROXY_SVG_H

#include <stddef.h>

typedef struct {
  char *s;
  size_t n, cap;
  int oom; /* set when an append failed; the writer reports it once at the end */
  int ids; /* counter for element ids unique within the page (clip paths) */
} ps_sbuf;

void ps_sbuf_puts(ps_sbuf *b, const char *s);
void ps_sbuf_printf(ps_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s with & < > " ' escaped, safe in element text and quoted attributes. */
void ps_sbuf_escape(ps_sbuf *b, const char *s);
void ps_sbuf_free(ps_sbuf *b);

/* One axis: data range [lo, hi] (log10 values when is_log) → pixels [p0, p1].
 * Categorical axes have n_cat > 0; category k sits at data value k. */
typedef struct {
  double lo, hi;
  int is_log;
  double p0, p1;
  const char *const *cat;
  int n_cat;
  int integer; /* values are whole numbers (counts, ranks): no fractional ticks */
} ps_svg_axis;

/* Fit an axis to the finite values v[n] with a little padding; log10 when
 * allow_log, all values > 0 and they span at least two decades. */
void ps_svg_axis_fit(ps_svg_axis *a, const double *v, int n, int allow_log);
/* Fixed range (e.g. [0, 1] for Dice). */
void ps_svg_axis_range(ps_svg_axis *a, double lo, double hi);
void ps_svg_axis_categories(ps_svg_axis *a, const char *const *cat, int n_cat);
double ps_svg_map(const ps_svg_axis *a, double v); /* data → pixel (NaN stays NaN) */

typedef struct {
  ps_sbuf *b;
  ps_svg_axis x, y;
  int w, h;
  int ml, mr, mt, mb; /* margins */
  int n_leg;           /* legend entries, drawn above the frame by ps_svg_end */
  struct { char kind, cls[16], label[64]; } leg[6];
} ps_svg_plot;

/* Open an <svg> with frame, grid, ticks, tick labels, title and axis labels.
 * The axes' data ranges must be set (fit/range/categories) before. */
void ps_svg_begin(ps_svg_plot *p, ps_sbuf *b, int w, int h, const char *title, const char *xlabel,
                  const char *ylabel);
void ps_svg_end(ps_svg_plot *p);

/* Marks in data coordinates; cls is a CSS class of the page; tip (may be NULL)
 * becomes a hover <title>. */
void ps_svg_point(ps_svg_plot *p, double x, double y, double r, const char *cls, const char *tip);
void ps_svg_line(ps_svg_plot *p, double x0, double y0, double x1, double y1, const char *cls);
/* step: draw as a staircase (best-so-far curves). Non-finite points are skipped. */
void ps_svg_polyline(ps_svg_plot *p, const double *x, const double *y, int n, int step, const char *cls);
/* A vertical bar from y = base to y at x, width in data units. */
void ps_svg_bar(ps_svg_plot *p, double x, double width, double base, double y, const char *cls, const char *tip);
/* Text at a data position (escaped). anchor: "start" | "middle" | "end". */
void ps_svg_text(ps_svg_plot *p, double x, double y, const char *anchor, const char *cls, const char *text);
/* A legend entry (kind: 'o' dot, '-' line); entries are laid out in a row
 * between the title and the frame, so they never hide data. At most 6;
 * call before ps_svg_end. `row` is the entry's position in the row. */
void ps_svg_legend(ps_svg_plot *p, int row, char kind, const char *cls, const char *label);

/* Tick label text for value v on an axis whose tick step is `step`. */
void ps_svg_fmt_tick(char *buf, size_t n, double v, double step);

#endif
