/*
 * test_quic.c - unit tests of dissectors/quic.c: Initial key derivation
 * against RFC 9001 A.1 and RFC 9369 A.1, the protected client Initials of
 * RFC 9001 A.2, RFC 9369 A.2 and draft-ietf-quic-tls-29 A.2, and packets
 * sealed here (with the keys quic.c derives) to pin reassembly: CRYPTO
 * frames split, reordered and duplicated within and across packets,
 * coalesced packets, Retry, frame skipping, caps, and hostile bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dissectors/ksd.h"
#include "dissectors/quic.h"
#include "dissectors/tls.h"

/* ---- vectors -------------------------------------------------------- */

static const char rfc_dcid[] = "8394c8f03e515708";

/* RFC 9001 A.2 / RFC 9369 A.2: the ClientHello carried by the CRYPTO frame
 * (the frame header 06 00 40f1 removed). */
static const char rfc_client_hello[] =
    "010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c"
    "00000413011302010000c000000010000e00000b6578616d706c652e636f6dff01000100000a"
    "00080006001d0017001800100007000504616c706e000500050100000000003300260024001d"
    "00209370b2c9caa47fbabaf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b0003"
    "020304000d0010000e0403050306030203080408050806002d00020101001c00024001003900"
    "320408ffffffffffffffff05048000ffff07048000ffff0801100104800075300901100f0883"
    "94c8f03e51570806048000ffff";

/* RFC 9001 A.2: the 1200-byte protected client Initial. */
static const char rfc9001_a2_packet[] =
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9b"
    "d8bab936b47d92ec356c0bab7df5976d27cd449f63300099f3991c260ec4c60d17b31f842915"
    "7bb35a1282a643a8d2262cad67500cadb8e7378c8eb7539ec4d4905fed1bee1fc8aafba17c75"
    "0e2c7ace01e6005f80fcb7df621230c83711b39343fa028cea7f7fb5ff89eac2308249a02252"
    "155e2347b63d58c5457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0"
    "c2084dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec4e15daf8"
    "500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3485e8a94dc250ae3fdb4"
    "1ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db059ae0648db2f64264ed5e39be2e20d8"
    "2df566da8dd5998ccabdae053060ae6c7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a932"
    "3851f681d582363aa5f89937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba661172239"
    "5c906556be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c746844"
    "9a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663ac69890f415701585"
    "3d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00f064c99e3dd97911d39fe9c5d0b2"
    "3a229a234cb36186c4819e8b9c5927726632291d6a418211cc2962e20fe47feb3edf330f2c60"
    "3a9d48c0fcb5699dbfe5896425c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506"
    "f8d2c25e50fd14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198e3fc433f9f25"
    "41010ae17c1bf202580f6047472fb36857fe843b19f5984009ddc324044e847a4f4a0ab34f71"
    "9595de37252d6235365e9b84392b061085349d73203a4a13e96f5432ec0fd4a1ee65accdd5e3"
    "904df54c1da510b0ff20dcc0c77fcb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de3"
    "54270123cb11450efc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b0"
    "3adea2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e72404790a21810"
    "14f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2162f40a29f0c3c8745c0"
    "f50fba3852e566d44575c29d39a03f0cda721984b6f440591f355e12d439ff150aab7613499d"
    "bd49adabc8676eef023b15b65bfc5ca06948109f23f350db82123535eb8a7433bdabcb909271"
    "a6ecbcb58b936a88cd4e8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e"
    "308f76f0be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f0940054da"
    "48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab760d58a606654f9f"
    "4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9f96f3ca9ec1dde434da7d2d392b9"
    "05ddf3d1f9af93d1af5950bd493f5aa731b4056df31bd267b6b90a079831aaf579be0a390131"
    "37aac6d404f518cfd46840647e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4"
    "a9a7f9474241e221af44860018ab0856972e194cd934";

/* RFC 9369 A.2: the same ClientHello protected with QUIC v2. */
static const char rfc9369_a2_packet[] =
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485dd04de806071"
    "bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad049f9a3dd4425ae4d0992cfff1"
    "8ecf0fdb5a842d09747052f17ac2053d21f57c5d250f2c4f0e0202b70785b7946e992e58a59a"
    "c52dea6774d4f03b55545243cf1a12834e3f249a78d395e0d18f4d766004f1a2674802a747ea"
    "a901c3f10cda5500cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253"
    "cd6818f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff3312ae50b1"
    "87c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3d396ae5a3fb512384b2f"
    "dd851f784a65e03f2c4fbe11a53c7777c023462239dd6f7521a3f6c7d5dd3ec9b3f233773d4b"
    "46d23cc375eb198c63301c21801f6520bcfb7966fc49b393f0061d974a2706df8c4a9449f11d"
    "7f3d2dcbb90c6b877045636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa5"
    "49e27a1fac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c1216cc"
    "ce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e54df16efaf6ddea94"
    "e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4fdf85290fdd893d577b1131a610e"
    "f6a5c32b2ee0293617a37cbb08b847741c3b8017c25ca9052ca1079d8b78aebd47876d330a30"
    "f6a8c6d61dd1ab5589329de714d19d61370f8149748c72f132f0fc99f34d766c6938597040d8"
    "f9e2bb522ff99c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
    "abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd80bf4dc8b52a"
    "0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db848265e3e5eb72dfe8299ad7"
    "481a408322cac55786e52f633b2fb6b614eaed18d703dd84045a274ae8bfa73379661388d699"
    "1fe39b0d93debb41700b41f90a15c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e5"
    "7f32162a8560cacc7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e823"
    "8e61f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e7071010d3f270"
    "121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b3d6758158197107c14eb"
    "b193230cd1157380aa79cae1374a7c1e5bbcb80ee23e06ebfde206bfb0fcbc0edc4ebec30966"
    "1bdd908d532eb0c6adc38b7ca7331dce8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3"
    "899f31f0eed19e3417d134b90c9058f8632c798d4490da4987307cba922d61c39805d072b589"
    "bd52fdf1e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd5d3b"
    "22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e38d209d0fa6536d27"
    "a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89d5974ee12e5cf7d5da4d6a311230"
    "41f33e61407e76cffcdcfd7e19ba58cf4b536f4c4938ae79324dc402894b44faf8afbab35282"
    "ab659d13c93f70412e85cb199a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb6974"
    "5a262ccde96ba18b2faa745b6fe189cf772a9f84cbfc";

/* draft-ietf-quic-tls-29 A.2: a client Initial of version 0xff00001d whose
 * ClientHello names "server". */
static const char draft29_a2_packet[] =
    "c5ff00001d088394c8f03e5157080000449e4a95245bfb66bc5f93032b7ddd89fe0ff15d9c4f"
    "7050fccdb71c1cd80512d4431643a53aafa1b0b518b44968b18b8d3e7a4d04c30b3ed9410325"
    "b2abb2dafb1c12f8b70479eb8df98abcaf95dd8f3d1c78660fbc719f88b23c8aef6771f3d50e"
    "10fdfb4c9d92386d44481b6c52d59e5538d3d3942de9f13a7f8b702dc31724180da9df22714d"
    "01003fc5e3d165c950e630b8540fbd81c9df0ee63f94997026c4f2e1887a2def79050ac2d86b"
    "a318e0b3adc4c5aa18bcf63c7cf8e85f569249813a2236a7e72269447cd1c755e451f5e77470"
    "eb3de64c8849d292820698029cfa18e5d66176fe6e5ba4ed18026f90900a5b4980e2f58e3915"
    "1d5cd685b10929636d4f02e7fad2a5a458249f5c0298a6d53acbe41a7fc83fa7cc01973f7a74"
    "d1237a51974e097636b6203997f921d07bc1940a6f2d0de9f5a11432946159ed6cc21df65c4d"
    "dd1115f86427259a196c7148b25b6478b0dc7766e1c4d1b1f5159f90eabc61636226244642ee"
    "148b464c9e619ee50a5e3ddc836227cad938987c4ea3c1fa7c75bbf88d89e9ada642b2b88fe8"
    "107b7ea375b1b64889a4e9e5c38a1c896ce275a5658d250e2d76e1ed3a34ce7e3a3f383d0c99"
    "6d0bed106c2899ca6fc263ef0455e74bb6ac1640ea7bfedc59f03fee0e1725ea150ff4d69a76"
    "60c5542119c71de270ae7c3ecfd1af2c4ce551986949cc34a66b3e216bfe18b347e6c05fd050"
    "f85912db303a8f054ec23e38f44d1c725ab641ae929fecc8e3cefa5619df4231f5b4c009fa0c"
    "0bbc60bc75f76d06ef154fc8577077d9d6a1d2bd9bf081dc783ece60111bea7da9e5a9748069"
    "d078b2bef48de04cabe3755b197d52b32046949ecaa310274b4aac0d008b1948c1082cdfe208"
    "3e386d4fd84c0ed0666d3ee26c4515c4fee73433ac703b690a9f7bf278a77486ace44c489a0c"
    "7ac8dfe4d1a58fb3a730b993ff0f0d61b4d89557831eb4c752ffd39c10f6b9f46d8db278da62"
    "4fd800e4af85548a294c1518893a8778c4f6d6d73c93df200960104e062b388ea97dcf4016bc"
    "ed7f62b4f062cb6c04c20693d9a0e3b74ba8fe74cc01237884f40d765ae56a51688d985cf0ce"
    "aef43045ed8c3f0c33bced08537f6882613acd3b08d665fce9dd8aa73171e2d3771a61dba279"
    "0e491d413d93d987e2745af29418e428be34941485c93447520ffe231da2304d6a0fd5d07d08"
    "37220236966159bef3cf904d722324dd852513df39ae030d8173908da6364786d3c1bfcb19ea"
    "77a63b25f1e7fc661def480c5d00d44456269ebd84efd8e3a8b2c257eec76060682848cbf519"
    "4bc99e49ee75e4d0d254bad4bfd74970c30e44b65511d4ad0e6ec7398e08e01307eeeea14e46"
    "ccd87cf36b285221254d8fc6a6765c524ded0085dca5bd688ddf722e2c0faf9d0fb2ce7a0c3f"
    "2cee19ca0ffba461ca8dc5d2c8178b0762cf67135558494d2a96f1a139f0edb42d2af89a9c91"
    "22b07acbc29e5e722df8615c343702491098478a389c9872a10b0c9875125e257c7bfdf27eef"
    "4060bd3d00f4c14fd3e3496c38d3c5d1a5668c39350effbc2d16ca17be4ce29f02ed969504dd"
    "a2a8c6b9ff919e693ee79e09089316e7d1d89ec099db3b2b268725d888536a4b8bf9aee8fb43"
    "e82a4d919d4843b1ca70a2d8d3f725ead1391377dcc0";

/* ---- helpers -------------------------------------------------------- */

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            v <<= 4;
            v |= (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)v;
    }
    return n;
}

static void assert_hex(const uint8_t *got, size_t len, const char *want)
{
    uint8_t w[64];
    assert_int_equal(unhex(want, w, sizeof(w)), len);
    assert_memory_equal(got, w, len);
}

/* A byte buffer to build frames and datagrams in. */
struct buf {
    uint8_t b[4096];
    size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
    assert_true(n <= sizeof(b->b) - b->n);
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put8(struct buf *b, uint8_t v)
{
    put(b, &v, 1);
}

/* A varint in its shortest form (2-byte form forced for 64..16383). */
static void putv(struct buf *b, uint64_t v)
{
    if (v < 64) {
        put8(b, (uint8_t)v);
    } else if (v < 16384) {
        put8(b, (uint8_t)(0x40 | (v >> 8)));
        put8(b, (uint8_t)v);
    } else if (v < (1u << 30)) {
        for (int i = 3; i >= 0; i--)
            put8(b, (uint8_t)((i == 3 ? 0x80 : 0) | (uint8_t)(v >> (8 * i))));
    } else {
        for (int i = 7; i >= 0; i--)
            put8(b, (uint8_t)((i == 7 ? 0xc0 : 0) | (uint8_t)(v >> (8 * i))));
    }
}

static void put_crypto(struct buf *b, uint64_t off, const uint8_t *d, size_t n)
{
    put8(b, 0x06);
    putv(b, off);
    putv(b, n);
    put(b, d, n);
}

static void put_padding(struct buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put8(b, 0);
}

/*
 * Seal a client Initial of `version` into `out`: header DCID `dcid`, keys
 * derived from `key_dcid` (a client keeps its original keys after it
 * switched to the server's CID), 4-byte packet number `pn`, `frames` as
 * the payload (padded to leave room for the header protection sample).
 */
static void seal_initial_kv(struct buf *out, uint32_t version, uint32_t key_version,
                            const uint8_t *dcid, size_t dcid_len, const uint8_t *key_dcid,
                            size_t key_dcid_len, uint32_t pn, const struct buf *frames)
{
    struct ksd_quic_keys k;
    struct buf pay = *frames;
    uint8_t nonce[12], mask[16], tag[16];
    size_t hdr_start = out->n, pn_off, hdr_len;
    int n = 0;
    int v2 = version == 0x6b3343cf;

    assert_int_equal(ksd_quic_initial_keys(key_version, key_dcid, key_dcid_len, 0, &k), KSD_OK);
    if (pay.n < 16)
        put_padding(&pay, 16 - pay.n);
    put8(out, (uint8_t)(0xc0 | (v2 ? 0x10 : 0x00) | 0x03));
    for (int i = 3; i >= 0; i--)
        put8(out, (uint8_t)(version >> (8 * i)));
    put8(out, (uint8_t)dcid_len);
    put(out, dcid, dcid_len);
    put8(out, 0); /* SCID */
    put8(out, 0); /* token */
    put8(out, (uint8_t)(0x40 | ((4 + pay.n + 16) >> 8)));
    put8(out, (uint8_t)(4 + pay.n + 16));
    pn_off = out->n - hdr_start;
    for (int i = 3; i >= 0; i--)
        put8(out, (uint8_t)(pn >> (8 * i)));
    hdr_len = out->n - hdr_start;

    memcpy(nonce, k.iv, 12);
    for (int i = 0; i < 4; i++)
        nonce[11 - i] ^= (uint8_t)(pn >> (8 * i));
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, k.key, nonce), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &n, out->b + hdr_start, (int)hdr_len), 1);
    assert_true(pay.n + 16 <= sizeof(out->b) - out->n);
    assert_int_equal(EVP_EncryptUpdate(ctx, out->b + out->n, &n, pay.b, (int)pay.n), 1);
    assert_int_equal(EVP_EncryptFinal_ex(ctx, out->b + out->n + n, &n), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
    EVP_CIPHER_CTX_free(ctx);
    out->n += pay.n;
    put(out, tag, 16);

    ctx = EVP_CIPHER_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, k.hp, NULL), 1);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    assert_int_equal(EVP_EncryptUpdate(ctx, mask, &n, out->b + hdr_start + pn_off + 4, 16), 1);
    EVP_CIPHER_CTX_free(ctx);
    out->b[hdr_start] ^= mask[0] & 0x0f;
    for (int i = 0; i < 4; i++)
        out->b[hdr_start + pn_off + (size_t)i] ^= mask[1 + i];
}

static void seal_initial(struct buf *out, uint32_t version, const uint8_t *dcid, size_t dcid_len,
                         const uint8_t *key_dcid, size_t key_dcid_len, uint32_t pn,
                         const struct buf *frames)
{
    seal_initial_kv(out, version, version, dcid, dcid_len, key_dcid, key_dcid_len, pn, frames);
}

static uint8_t g_dcid[8];
static uint8_t g_hello[512];
static size_t g_hello_len;

static int setup(void **state)
{
    (void)state;
    unhex(rfc_dcid, g_dcid, sizeof(g_dcid));
    g_hello_len = unhex(rfc_client_hello, g_hello, sizeof(g_hello));
    return 0;
}

static size_t load(const char *hex, uint8_t *out, size_t cap)
{
    return unhex(hex, out, cap);
}

/* ---- key derivation ------------------------------------------------- */

static void test_quic_v1_keys_match_rfc9001_a1(void **state)
{
    struct ksd_quic_keys c, s;
    (void)state;
    assert_int_equal(ksd_quic_initial_keys(1, g_dcid, 8, 0, &c), KSD_OK);
    assert_hex(c.secret, 32, "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea");
    assert_hex(c.key, 16, "1f369613dd76d5467730efcbe3b1a22d");
    assert_hex(c.iv, 12, "fa044b2f42a3fd3b46fb255c");
    assert_hex(c.hp, 16, "9f50449e04a0e810283a1e9933adedd2");
    assert_int_equal(ksd_quic_initial_keys(1, g_dcid, 8, 1, &s), KSD_OK);
    assert_hex(s.secret, 32, "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b");
    assert_hex(s.key, 16, "cf3a5331653c364c88f0f379b6067e37");
    assert_hex(s.iv, 12, "0ac1493ca1905853b0bba03e");
    assert_hex(s.hp, 16, "c206b8d9b9f0f37644430b490eeaa314");
}

static void test_quic_v2_keys_match_rfc9369_a1(void **state)
{
    struct ksd_quic_keys c, s;
    (void)state;
    assert_int_equal(ksd_quic_initial_keys(0x6b3343cf, g_dcid, 8, 0, &c), KSD_OK);
    assert_hex(c.secret, 32, "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b");
    assert_hex(c.key, 16, "8b1a0bc121284290a29e0971b5cd045d");
    assert_hex(c.iv, 12, "91f73e2351d8fa91660e909f");
    assert_hex(c.hp, 16, "45b95e15235d6f45a6b19cbcb0294ba9");
    assert_int_equal(ksd_quic_initial_keys(0x6b3343cf, g_dcid, 8, 1, &s), KSD_OK);
    assert_hex(s.secret, 32, "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1");
    assert_hex(s.key, 16, "82db637861d55e1d011f19ea71d5d2a7");
    assert_hex(s.iv, 12, "dd13c276499c0249d3310652");
    assert_hex(s.hp, 16, "edf6d05c83121201b436e16877593c3a");
}

static void test_quic_keys_version_and_cid_checks(void **state)
{
    struct ksd_quic_keys k, k27, kfb;
    uint8_t long_cid[21] = {0};
    (void)state;
    assert_int_equal(ksd_quic_initial_keys(0x51303530, g_dcid, 8, 0, &k), KSD_ENOTSUP); /* Q050 */
    assert_int_equal(ksd_quic_initial_keys(0xabcdef01, g_dcid, 8, 0, &k), KSD_ENOTSUP);
    assert_int_equal(ksd_quic_initial_keys(1, long_cid, 21, 0, &k), KSD_EINVAL);
    assert_int_equal(ksd_quic_initial_keys(1, NULL, 0, 0, &k), KSD_OK);
    /* drafts 27/28 and mvfst 0xfaceb002 share the draft-23 salt, not draft-29's */
    assert_int_equal(ksd_quic_initial_keys(0xff00001b, g_dcid, 8, 0, &k27), KSD_OK);
    assert_int_equal(ksd_quic_initial_keys(0xfaceb002, g_dcid, 8, 0, &kfb), KSD_OK);
    assert_memory_equal(k27.key, kfb.key, 16);
    assert_int_equal(ksd_quic_initial_keys(0xff00001d, g_dcid, 8, 0, &k), KSD_OK);
    assert_memory_not_equal(k27.key, k.key, 16);
    /* a reserved (greasing) version gets the draft-29 keys first */
    assert_int_equal(ksd_quic_initial_keys(0x0a0a0a0a, g_dcid, 8, 0, &kfb), KSD_OK);
    assert_memory_equal(kfb.key, k.key, 16);
}

/* ---- RFC packets ---------------------------------------------------- */

static void check_rfc_packet(const char *hex, const char *sni)
{
    static uint8_t pkt[1200];
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    assert_non_null(q);
    assert_int_equal(load(hex, pkt, sizeof(pkt)), 1200);
    assert_int_equal(ksd_quic_probe(pkt, sizeof(pkt)), 1);
    memset(&h, 0, sizeof(h));
    assert_int_equal(ksd_quic_feed(q, pkt, sizeof(pkt), &h), KSD_OK);
    assert_string_equal(h.sni, sni);
    assert_int_equal(h.transport, 'q');
    /* once done, the flow takes nothing more */
    assert_int_equal(ksd_quic_feed(q, pkt, sizeof(pkt), &h), KSD_ENOTSUP);
    ksd_quic_free(q);
}

static void test_quic_rfc9001_a2_client_initial_decrypts(void **state)
{
    static uint8_t pkt[1200];
    struct ksd_tls_hello h;
    const uint8_t *crypto;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    check_rfc_packet(rfc9001_a2_packet, "example.com");
    /* the reassembled CRYPTO stream is exactly the RFC's ClientHello */
    assert_int_equal(load(rfc9001_a2_packet, pkt, sizeof(pkt)), 1200);
    assert_int_equal(ksd_quic_feed(q, pkt, sizeof(pkt), &h), KSD_OK);
    assert_int_equal(ksd_quic_crypto_prefix(q, &crypto), g_hello_len);
    assert_memory_equal(crypto, g_hello, g_hello_len);
    ksd_quic_free(q);
}

static void test_quic_rfc9369_a2_v2_client_initial_decrypts(void **state)
{
    (void)state;
    check_rfc_packet(rfc9369_a2_packet, "example.com");
}

static void test_quic_draft29_a2_client_initial_decrypts(void **state)
{
    (void)state;
    check_rfc_packet(draft29_a2_packet, "server");
}

/* ---- reassembly ----------------------------------------------------- */

static void test_quic_hello_split_across_two_initials_reverse_order(void **state)
{
    struct buf f1 = {.n = 0}, f2 = {.n = 0}, p1 = {.n = 0}, p2 = {.n = 0};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    put_crypto(&f1, 0, g_hello, 100);
    put_padding(&f1, 300);
    put_crypto(&f2, 100, g_hello + 100, g_hello_len - 100);
    put_padding(&f2, 300);
    seal_initial(&p1, 1, g_dcid, 8, g_dcid, 8, 0, &f1);
    seal_initial(&p2, 1, g_dcid, 8, g_dcid, 8, 1, &f2);
    assert_int_equal(ksd_quic_feed(q, p2.b, p2.n, &h), KSD_EAGAIN);
    assert_int_equal(ksd_quic_crypto_prefix(q, NULL), 0);
    assert_int_equal(ksd_quic_feed(q, p1.b, p1.n, &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    ksd_quic_free(q);
}

static void test_quic_crypto_frames_shuffled_and_duplicated_in_one_packet(void **state)
{
    struct buf f = {.n = 0}, p = {.n = 0};
    struct ksd_tls_hello h;
    const uint8_t *crypto;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    put_crypto(&f, 200, g_hello + 200, g_hello_len - 200);
    put8(&f, 0x01); /* PING */
    put_crypto(&f, 0, g_hello, 50);
    put_padding(&f, 7);
    put_crypto(&f, 120, g_hello + 120, 100); /* overlaps the first frame */
    put_crypto(&f, 0, g_hello, 50);          /* duplicate */
    put_crypto(&f, 40, g_hello + 40, 90);
    put_padding(&f, 100);
    seal_initial(&p, 1, g_dcid, 8, g_dcid, 8, 2, &f);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    assert_int_equal(ksd_quic_crypto_prefix(q, &crypto), g_hello_len);
    assert_memory_equal(crypto, g_hello, g_hello_len);
    ksd_quic_free(q);
}

static void test_quic_ack_ecn_and_close_frames_skipped(void **state)
{
    struct buf f = {.n = 0}, p = {.n = 0};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    /* ACK: largest 10, delay 300, 2 ranges, first 1, (gap 1, len 2) x 2 */
    put8(&f, 0x02);
    putv(&f, 10);
    putv(&f, 300);
    putv(&f, 2);
    putv(&f, 1);
    putv(&f, 1);
    putv(&f, 2);
    putv(&f, 1);
    putv(&f, 2);
    /* ACK_ECN with counts */
    put8(&f, 0x03);
    putv(&f, 70000);
    putv(&f, 0);
    putv(&f, 0);
    putv(&f, 0);
    putv(&f, 5);
    putv(&f, 6);
    putv(&f, 1u << 20);
    /* CONNECTION_CLOSE with a reason */
    put8(&f, 0x1c);
    putv(&f, 0x0a);
    putv(&f, 0x06);
    putv(&f, 4);
    put(&f, "oops", 4);
    put_crypto(&f, 0, g_hello, g_hello_len);
    put_padding(&f, 50);
    seal_initial(&p, 1, g_dcid, 8, g_dcid, 8, 0, &f);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    ksd_quic_free(q);
}

static void test_quic_ack_range_count_over_cap_stops_packet(void **state)
{
    struct buf f = {.n = 0}, p = {.n = 0};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    put8(&f, 0x02);
    putv(&f, 10);
    putv(&f, 0);
    putv(&f, KSD_QUIC_MAX_ACK_RANGES + 1);
    putv(&f, 0);
    for (int i = 0; i < KSD_QUIC_MAX_ACK_RANGES + 1; i++) {
        putv(&f, 0);
        putv(&f, 0);
    }
    put_crypto(&f, 0, g_hello, g_hello_len);
    seal_initial(&p, 1, g_dcid, 8, g_dcid, 8, 0, &f);
    /* the packet opened, but its CRYPTO frame sits behind the bad ACK */
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_EAGAIN);
    assert_int_equal(ksd_quic_crypto_prefix(q, NULL), 0);
    ksd_quic_free(q);
}

static void test_quic_unknown_frame_ends_packet_keeps_earlier_crypto(void **state)
{
    struct buf f = {.n = 0}, p = {.n = 0};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    put_crypto(&f, 0, g_hello, 30);
    put8(&f, 0x08); /* STREAM: not allowed in an Initial */
    put_crypto(&f, 30, g_hello + 30, g_hello_len - 30);
    seal_initial(&p, 1, g_dcid, 8, g_dcid, 8, 0, &f);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_EAGAIN);
    assert_int_equal(ksd_quic_crypto_prefix(q, NULL), 30);
    ksd_quic_free(q);
}

static void test_quic_coalesced_packets_in_one_datagram(void **state)
{
    struct buf f1 = {.n = 0}, f2 = {.n = 0}, d = {.n = 0};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    static const uint8_t handshake[] = {0xe0, 0, 0, 0, 1, 0, 0, 0x05, 1, 2, 3, 4, 5};
    static const uint8_t zero_rtt[] = {0xd0, 0, 0, 0, 1, 0, 0, 0x03, 9, 9, 9};
    (void)state;
    put_crypto(&f1, 150, g_hello + 150, g_hello_len - 150);
    put_crypto(&f2, 0, g_hello, 150);
    seal_initial(&d, 1, g_dcid, 8, g_dcid, 8, 0, &f1);
    put(&d, zero_rtt, sizeof(zero_rtt)); /* skipped by its Length */
    seal_initial(&d, 1, g_dcid, 8, g_dcid, 8, 1, &f2);
    put(&d, handshake, sizeof(handshake));
    put8(&d, 0x40); /* a short header ends the walk */
    put_padding(&d, 20);
    assert_int_equal(ksd_quic_feed(q, d.b, d.n, &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    ksd_quic_free(q);
}

static void test_quic_later_initial_to_server_cid_uses_original_keys(void **state)
{
    struct buf f1 = {.n = 0}, f2 = {.n = 0}, p1 = {.n = 0}, p2 = {.n = 0};
    static const uint8_t server_cid[5] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    put_crypto(&f1, 0, g_hello, 100);
    put_crypto(&f2, 100, g_hello + 100, g_hello_len - 100);
    seal_initial(&p1, 1, g_dcid, 8, g_dcid, 8, 0, &f1);
    seal_initial(&p2, 1, server_cid, 5, g_dcid, 8, 1, &f2);
    assert_int_equal(ksd_quic_feed(q, p1.b, p1.n, &h), KSD_EAGAIN);
    assert_int_equal(ksd_quic_feed(q, p2.b, p2.n, &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    ksd_quic_free(q);
}

static void test_quic_retry_new_dcid_rederives_keys(void **state)
{
    struct buf f1 = {.n = 0}, f2 = {.n = 0}, p1 = {.n = 0}, p2 = {.n = 0};
    static const uint8_t retry_cid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    put_crypto(&f1, 0, g_hello, 100); /* first attempt, never completed */
    put_crypto(&f2, 0, g_hello, g_hello_len);
    seal_initial(&p1, 1, g_dcid, 8, g_dcid, 8, 0, &f1);
    seal_initial(&p2, 1, retry_cid, 8, retry_cid, 8, 1, &f2);
    assert_int_equal(ksd_quic_feed(q, p1.b, p1.n, &h), KSD_EAGAIN);
    assert_int_equal(ksd_quic_crypto_prefix(q, NULL), 100);
    assert_int_equal(ksd_quic_feed(q, p2.b, p2.n, &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    ksd_quic_free(q);
}

static void test_quic_v2_and_greased_versions_sealed_here(void **state)
{
    struct buf f = {.n = 0}, p2 = {.n = 0}, pg = {.n = 0}, pg1 = {.n = 0}, pg2 = {.n = 0};
    struct ksd_tls_hello h;
    struct ksd_quic *q;
    (void)state;
    put_crypto(&f, 0, g_hello, g_hello_len);
    seal_initial(&p2, 0x6b3343cf, g_dcid, 8, g_dcid, 8, 0, &f);
    seal_initial_kv(&pg, 0x1a2a3a4a, 0xff00001d, g_dcid, 8, g_dcid, 8, 0, &f);
    seal_initial_kv(&pg1, 0xfafafafa, 1, g_dcid, 8, g_dcid, 8, 0, &f);
    seal_initial_kv(&pg2, 0x0a0a0a0a, 0x6b3343cf, g_dcid, 8, g_dcid, 8, 0, &f);
    q = ksd_quic_new();
    assert_int_equal(ksd_quic_feed(q, p2.b, p2.n, &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    ksd_quic_free(q);
    /* a reserved version opens with draft-29 keys, or else v1 keys */
    q = ksd_quic_new();
    assert_int_equal(ksd_quic_feed(q, pg.b, pg.n, &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    ksd_quic_free(q);
    q = ksd_quic_new();
    assert_int_equal(ksd_quic_feed(q, pg1.b, pg1.n, &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    ksd_quic_free(q);
    /* but not with v2 keys */
    q = ksd_quic_new();
    assert_int_equal(ksd_quic_feed(q, pg2.b, pg2.n, &h), KSD_EINVAL);
    ksd_quic_free(q);
}

static void test_quic_t051_uses_gquic_frame_types(void **state)
{
    struct buf f = {.n = 0}, p = {.n = 0}, fi = {.n = 0}, pi = {.n = 0};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    /* T051: PING is 0x07 and CRYPTO 0x08, with IETF varint offset/length */
    put8(&f, 0x07);
    put_crypto(&f, 0, g_hello, g_hello_len);
    f.b[1] = 0x08;
    seal_initial(&p, 0x54303531, g_dcid, 8, g_dcid, 8, 0, &f);
    assert_int_equal(ksd_quic_probe(p.b, p.n), 1);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    ksd_quic_free(q);
    /* an IETF CRYPTO frame (0x06) means nothing in T051 */
    put_crypto(&fi, 0, g_hello, g_hello_len);
    seal_initial(&pi, 0x54303531, g_dcid, 8, g_dcid, 8, 0, &fi);
    q = ksd_quic_new();
    assert_int_equal(ksd_quic_feed(q, pi.b, pi.n, &h), KSD_EAGAIN);
    assert_int_equal(ksd_quic_crypto_prefix(q, NULL), 0);
    ksd_quic_free(q);
}

/* ---- limits --------------------------------------------------------- */

static void test_quic_gives_up_after_max_packets(void **state)
{
    struct buf f = {.n = 0};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    put8(&f, 0x01); /* PING only */
    for (unsigned i = 0; i < KSD_QUIC_MAX_PACKETS; i++) {
        struct buf p = {.n = 0};
        seal_initial(&p, 1, g_dcid, 8, g_dcid, 8, i, &f);
        assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_EAGAIN);
    }
    struct buf p = {.n = 0};
    seal_initial(&p, 1, g_dcid, 8, g_dcid, 8, 99, &f);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_ELIMIT);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_ENOTSUP);
    ksd_quic_free(q);
}

static void test_quic_hello_larger_than_crypto_buffer_is_limit(void **state)
{
    struct buf f = {.n = 0}, p = {.n = 0};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    /* handshake length 16381: 4 + 16381 = 16385 > KSD_QUIC_MAX_CRYPTO */
    static const uint8_t big[8] = {0x01, 0x00, 0x3f, 0xfd, 0x03, 0x03, 0, 0};
    (void)state;
    put_crypto(&f, 0, big, sizeof(big));
    seal_initial(&p, 1, g_dcid, 8, g_dcid, 8, 0, &f);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_ELIMIT);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_ENOTSUP);
    ksd_quic_free(q);
}

static void test_quic_crypto_offsets_at_buffer_edge_are_clipped(void **state)
{
    struct buf f = {.n = 0}, p = {.n = 0};
    static uint8_t junk[200];
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    memset(junk, 0x41, sizeof(junk));
    put_crypto(&f, KSD_QUIC_MAX_CRYPTO - 10, junk, sizeof(junk)); /* straddles the end */
    put_crypto(&f, KSD_QUIC_MAX_CRYPTO, junk, 10);                /* just past it */
    put_crypto(&f, (1ull << 62) - 1, junk, 1);                    /* largest offset */
    put_crypto(&f, 0, g_hello, 3);
    seal_initial(&p, 1, g_dcid, 8, g_dcid, 8, 0, &f);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_EAGAIN);
    assert_int_equal(ksd_quic_crypto_prefix(q, NULL), 3);
    ksd_quic_free(q);
}

static void test_quic_stream_not_starting_with_client_hello_rejected(void **state)
{
    struct buf f = {.n = 0}, p = {.n = 0};
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    static const uint8_t server_hello[8] = {0x02, 0x00, 0x00, 0x04, 1, 2, 3, 4};
    (void)state;
    put_crypto(&f, 0, server_hello, sizeof(server_hello));
    seal_initial(&p, 1, g_dcid, 8, g_dcid, 8, 0, &f);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_EINVAL);
    assert_int_equal(ksd_quic_feed(q, p.b, p.n, &h), KSD_ENOTSUP);
    ksd_quic_free(q);
}

/* ---- hostile bytes -------------------------------------------------- */

static void test_quic_truncated_packet_every_length_rejected(void **state)
{
    static uint8_t pkt[1200];
    struct ksd_tls_hello h;
    (void)state;
    load(rfc9001_a2_packet, pkt, sizeof(pkt));
    for (size_t n = 0; n < sizeof(pkt); n++) {
        struct ksd_quic *q = ksd_quic_new();
        uint8_t *copy = malloc(n ? n : 1); /* exact size so ASan sees overreads */
        assert_non_null(copy);
        memcpy(copy, pkt, n);
        assert_int_equal(ksd_quic_feed(q, copy, n, &h), KSD_EINVAL);
        (void)ksd_quic_probe(copy, n);
        free(copy);
        ksd_quic_free(q);
    }
}

static void test_quic_wrong_dcid_or_flipped_bit_rejected(void **state)
{
    static uint8_t pkt[1200];
    struct ksd_tls_hello h;
    struct ksd_quic *q;
    (void)state;
    load(rfc9001_a2_packet, pkt, sizeof(pkt));
    pkt[6] ^= 0x01; /* first DCID byte: other keys */
    q = ksd_quic_new();
    assert_int_equal(ksd_quic_feed(q, pkt, sizeof(pkt), &h), KSD_EINVAL);
    ksd_quic_free(q);
    pkt[6] ^= 0x01;
    pkt[600] ^= 0x80; /* ciphertext: the tag no longer matches */
    q = ksd_quic_new();
    assert_int_equal(ksd_quic_feed(q, pkt, sizeof(pkt), &h), KSD_EINVAL);
    pkt[600] ^= 0x80;
    /* the flow is still usable after a bad datagram */
    assert_int_equal(ksd_quic_feed(q, pkt, sizeof(pkt), &h), KSD_OK);
    assert_string_equal(h.sni, "example.com");
    ksd_quic_free(q);
}

static void test_quic_garbage_and_headers_rejected(void **state)
{
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    static uint8_t garbage[1200];
    static const uint8_t short_hdr[40] = {0x41, 1, 2, 3};
    static const uint8_t vn[] = {0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t q050[40] = {0xc3, 'Q', '0', '5', '0', 8};
    static const uint8_t long_cid[40] = {0xc3, 0, 0, 0, 1, 21};
    static const uint8_t retry[40] = {0xf0, 0, 0, 0, 1, 0, 0};
    static const uint8_t huge_len[] = {0xc3, 0, 0, 0, 1, 0, 0, 0, 0xbf, 0xff, 0xff, 0xff};
    (void)state;
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (uint8_t)(i * 131 + 7);
    garbage[0] = 0xc3;
    garbage[1] = 0;
    garbage[2] = 0;
    garbage[3] = 0;
    garbage[4] = 1;
    garbage[5] = 8;
    garbage[14] = 0;
    garbage[15] = 0;
    garbage[16] = 0x44;
    garbage[17] = 0x9e;
    assert_int_equal(ksd_quic_probe(garbage, sizeof(garbage)), 1);
    assert_int_equal(ksd_quic_feed(q, garbage, sizeof(garbage), &h), KSD_EINVAL);
    assert_int_equal(ksd_quic_feed(q, short_hdr, sizeof(short_hdr), &h), KSD_EINVAL);
    assert_int_equal(ksd_quic_feed(q, vn, sizeof(vn), &h), KSD_EINVAL);
    assert_int_equal(ksd_quic_feed(q, q050, sizeof(q050), &h), KSD_ENOTSUP);
    assert_int_equal(ksd_quic_feed(q, long_cid, sizeof(long_cid), &h), KSD_EINVAL);
    assert_int_equal(ksd_quic_feed(q, retry, sizeof(retry), &h), KSD_EINVAL);
    assert_int_equal(ksd_quic_feed(q, huge_len, sizeof(huge_len), &h), KSD_EINVAL);
    assert_int_equal(ksd_quic_feed(q, NULL, 0, &h), KSD_EINVAL);
    assert_int_equal(ksd_quic_probe(short_hdr, sizeof(short_hdr)), 0);
    assert_int_equal(ksd_quic_probe(q050, sizeof(q050)), 0);
    assert_int_equal(ksd_quic_probe(retry, sizeof(retry)), 0);
    assert_int_equal(ksd_quic_probe(NULL, 0), 0);
    ksd_quic_free(q);
    ksd_quic_free(NULL);
}

static void test_quic_probe_uses_v2_packet_types(void **state)
{
    /* a v2 packet with long type 0 is a Retry, not an Initial */
    static uint8_t pkt[1200];
    (void)state;
    load(rfc9369_a2_packet, pkt, sizeof(pkt));
    assert_int_equal(ksd_quic_probe(pkt, sizeof(pkt)), 1);
    pkt[0] = (uint8_t)(pkt[0] & ~0x30);
    assert_int_equal(ksd_quic_probe(pkt, sizeof(pkt)), 0);
    load(rfc9001_a2_packet, pkt, sizeof(pkt));
    pkt[0] = (uint8_t)(pkt[0] | 0x10); /* v1 type 1 = 0-RTT */
    assert_int_equal(ksd_quic_probe(pkt, sizeof(pkt)), 0);
}

/* Memory: a flow whose Initial does not decrypt holds the small state only
 * (no CRYPTO buffer); one that decrypts holds a buffer sized to its CRYPTO
 * bytes, far below KSD_QUIC_MAX_CRYPTO for a small hello. */
static void test_quic_mem_crypto_buffer_only_once_decrypted(void **state)
{
    static uint8_t pkt[1200];
    struct ksd_tls_hello h;
    struct ksd_quic *q = ksd_quic_new();
    (void)state;
    size_t idle = ksd_quic_mem(q);
    assert_true(idle > 0 && idle < 512);
    assert_int_equal(ksd_quic_mem(NULL), 0);
    load(rfc9001_a2_packet, pkt, sizeof(pkt));
    pkt[sizeof(pkt) - 1] ^= 1; /* the AEAD tag no longer verifies */
    assert_int_equal(ksd_quic_feed(q, pkt, sizeof(pkt), &h), KSD_EINVAL);
    assert_int_equal(ksd_quic_mem(q), idle);
    pkt[sizeof(pkt) - 1] ^= 1;
    assert_int_equal(ksd_quic_feed(q, pkt, sizeof(pkt), &h), KSD_OK);
    assert_true(ksd_quic_mem(q) > idle);
    assert_true(ksd_quic_mem(q) < idle + 4096);
    ksd_quic_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quic_v1_keys_match_rfc9001_a1),
        cmocka_unit_test(test_quic_v2_keys_match_rfc9369_a1),
        cmocka_unit_test(test_quic_keys_version_and_cid_checks),
        cmocka_unit_test(test_quic_rfc9001_a2_client_initial_decrypts),
        cmocka_unit_test(test_quic_rfc9369_a2_v2_client_initial_decrypts),
        cmocka_unit_test(test_quic_draft29_a2_client_initial_decrypts),
        cmocka_unit_test(test_quic_hello_split_across_two_initials_reverse_order),
        cmocka_unit_test(test_quic_crypto_frames_shuffled_and_duplicated_in_one_packet),
        cmocka_unit_test(test_quic_ack_ecn_and_close_frames_skipped),
        cmocka_unit_test(test_quic_ack_range_count_over_cap_stops_packet),
        cmocka_unit_test(test_quic_unknown_frame_ends_packet_keeps_earlier_crypto),
        cmocka_unit_test(test_quic_coalesced_packets_in_one_datagram),
        cmocka_unit_test(test_quic_later_initial_to_server_cid_uses_original_keys),
        cmocka_unit_test(test_quic_retry_new_dcid_rederives_keys),
        cmocka_unit_test(test_quic_v2_and_greased_versions_sealed_here),
        cmocka_unit_test(test_quic_t051_uses_gquic_frame_types),
        cmocka_unit_test(test_quic_gives_up_after_max_packets),
        cmocka_unit_test(test_quic_hello_larger_than_crypto_buffer_is_limit),
        cmocka_unit_test(test_quic_crypto_offsets_at_buffer_edge_are_clipped),
        cmocka_unit_test(test_quic_stream_not_starting_with_client_hello_rejected),
        cmocka_unit_test(test_quic_truncated_packet_every_length_rejected),
        cmocka_unit_test(test_quic_wrong_dcid_or_flipped_bit_rejected),
        cmocka_unit_test(test_quic_garbage_and_headers_rejected),
        cmocka_unit_test(test_quic_probe_uses_v2_packet_types),
        cmocka_unit_test(test_quic_mem_crypto_buffer_only_once_decrypted),
    };
    return cmocka_run_group_tests_name("quic", tests, setup, NULL);
}
