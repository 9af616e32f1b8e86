/* Internal accessors of a proxy-data case signature (proxy/case_features.c),
 * for the scorers in proxy/case_score.c. */
#ifndef PS_PROXY_CASE_SIG_H
#define PS_PROXY_CASE_SIG_H
#include "proxyseg/proxy.h"

int ps_proxy_sig_channels(const ps_proxy_sig *s);
/* channel ch of the foreground-box grid: [G][G][G], G = PS_PROXY_GRID */
const float *ps_proxy_sig_grid(const ps_proxy_sig *s, int ch);
#endif
