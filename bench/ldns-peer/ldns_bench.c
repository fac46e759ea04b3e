/* Peer baseline for dnscore-bench: the same packets parsed (ldns_wire2pkt) and built
 * (ldns_pkt2wire) by ldns, the C library unbound's sldns descends from.
 * Input on stdin: lines "label hex". Build: see bench/dnscore.sh. */
#include <ldns/ldns.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    char label[64], hex[131072];
    while (scanf("%63s %131071s", label, hex) == 2) {
        size_t n = strlen(hex) / 2;
        uint8_t *wire = malloc(n);
        for (size_t i = 0; i < n; i++) sscanf(hex + 2 * i, "%2hhx", &wire[i]);
        ldns_pkt *pkt = NULL;
        if (ldns_wire2pkt(&pkt, wire, n) != LDNS_STATUS_OK) { fprintf(stderr, "ldns cannot parse %s\n", label); return 1; }
        long ops = 0;
        double t0 = now(), t;
        do {
            for (int i = 0; i < 100; i++) { ldns_pkt *p = NULL; ldns_wire2pkt(&p, wire, n); ldns_pkt_free(p); }
            ops += 100;
        } while ((t = now()) - t0 < seconds);
        printf("  ldns parse %-20s %10.0f msg/s %9.1f ns/msg\n", label, ops / (t - t0), (t - t0) * 1e9 / ops);
        ops = 0;
        t0 = now();
        do {
            for (int i = 0; i < 100; i++) { uint8_t *out = NULL; size_t len = 0; ldns_pkt2wire(&out, pkt, &len); free(out); }
            ops += 100;
        } while ((t = now()) - t0 < seconds);
        printf("  ldns build %-20s %10.0f msg/s %9.1f ns/msg\n", label, ops / (t - t0), (t - t0) * 1e9 / ops);
        ldns_pkt_free(pkt);
        free(wire);
    }
    return 0;
}
