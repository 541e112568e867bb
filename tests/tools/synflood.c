/*
 * synflood.c - write a capture of N TCP SYNs from distinct random
 * (address, port) pairs to distinct servers, to standard output: N flows
 * alive at once, none with data. Used to show that the flow table's memory
 * stays flat under a SYN flood and that the flow cap evicts (and counts).
 *
 * usage: synflood N [SEED] > flood.pcap
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 17;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: synflood N [SEED] > file.pcap\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    uint8_t gh[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0};
    put32(gh + 16, 65535);
    put32(gh + 20, 1); /* Ethernet */
    fwrite(gh, 1, sizeof(gh), stdout);
    uint8_t pkt[16 + 54];
    for (long i = 0; i < n; i++) {
        uint8_t *h = pkt, *e = pkt + 16;
        uint64_t r = next(&seed);
        uint32_t usec = (uint32_t)(i % 1000000);
        put32(h, 1700000000u + (uint32_t)(i / 1000000));
        put32(h + 4, usec);
        put32(h + 8, 54);
        put32(h + 12, 54);
        memset(e, 0, 54);
        e[12] = 0x08; /* IPv4 */
        uint8_t *ip = e + 14;
        ip[0] = 0x45;
        ip[3] = 40;
        ip[8] = 64;
        ip[9] = 6;
        ip[12] = 10; /* source: 10.x.y.z from the counter, so every flow differs */
        ip[13] = (uint8_t)(i >> 16);
        ip[14] = (uint8_t)(i >> 8);
        ip[15] = (uint8_t)i;
        ip[16] = 198; /* destination: 198.18.0.0/15, random */
        ip[17] = (uint8_t)(18 + (r & 1));
        ip[18] = (uint8_t)(r >> 8);
        ip[19] = (uint8_t)(r >> 16);
        uint8_t *tcp = ip + 20;
        uint16_t sport = (uint16_t)(1024 + (r >> 24) % 64000), dport = (uint16_t)(r >> 40);
        tcp[0] = (uint8_t)(sport >> 8);
        tcp[1] = (uint8_t)sport;
        tcp[2] = (uint8_t)(dport >> 8);
        tcp[3] = (uint8_t)dport;
        tcp[12] = 0x50;
        tcp[13] = 0x02; /* SYN */
        fwrite(pkt, 1, sizeof(pkt), stdout);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
