/* BLAKE3 against the official test vectors' inputs (byte i is i mod 251),
 * with the expected values computed by Debian's b3sum 1.2.0:
 *   b3sum --no-names [-l 131] [--derive-key "BLAKE3 2019-12-27 16:29:52 test vectors context"]
 * Lengths cover one block, one chunk, chunk boundaries and trees of several
 * levels (31744 = 31 chunks, 102400 = 100 chunks). The extended output is
 * checked past the first 32 bytes (b3sum -l 131, bytes 32..130). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "otb_blake3.h"

#define CONTEXT "BLAKE3 2019-12-27 16:29:52 test vectors context"
#define XOF_LEN 131
#define SS2022_SUBKEY "374fca03e4dae7f998fd7e59c1edfcc8e3197f4db1c19ca1671be3b66a92ddda"

struct vector {
    size_t len;
    const char *hash, *derive_key, *xof_tail;
};

static const struct vector vectors[] = {
    { 0,
      "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
      "2cc39783c223154fea8dfb7c1b1660f2ac2dcbd1c1de8277b0b0dd39b7e50d7d",
      "e00f03e7b69af26b7faaf09fcd333050338ddfe085b8cc869ca98b206c08243a26f5487789e8f660afe6c99ef9e0c52b92e7393024a80459cf91f476f9ffdbda7001c22e159b402631f277ca96f2defdf1078282314e763699a31c5363165421cce14d" },
    { 1,
      "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
      "b3e2e340a117a499c6cf2398a19ee0d29cca2bb7404c73063382693bf66cb06c",
      "c3a6cb8bf623e20cdb535f8d1a5ffb86342d9c0b64aca3bce1d31f60adfa137b358ad4d79f97b47c3d5e79f179df87a3b9776ef8325f8329886ba42f07fb138bb502f4081cbcec3195c5871e6c23e2cc97d3c69a613eba131e5f1351f3f1da786545e5" },
    { 63,
      "e9bc37a594daad83be9470df7f7b3798297c3d834ce80ba85d6e207627b7db7b",
      "b6451e30b953c206e34644c6803724e9d2725e0893039cfc49584f991f451af3",
      "1197012b1e7d9af4d7cb7bdd1f3bb49a90a9b5dec3ea2bbc6eaebce77f4e470cbf4687093b5352f04e4a4570fba233164e6acc36900e35d185886a827f7ea9bdc1e5c3ce88b095a200e62c10c043b3e9bc6cb9b6ac4dfa51794b02ace9f98779040755" },
    { 64,
      "4eed7141ea4a5cd4b788606bd23f46e212af9cacebacdc7d1f4c6dc7f2511b98",
      "a5c4a7053fa86b64746d4bb688d06ad1f02a18fce9afd3e818fefaa7126bf73e",
      "fc9cc56cb831ffe33ea8e7e1d1df09b26efd2767670066aa82d023b1dfe8ab1b2b7fbb5b97592d46ffe3e05a6a9b592e2949c74160e4674301bc3f97e04903f8c6cf95b863174c33228924cdef7ae47559b10b294acd660666c4538833582b43f82d74" },
    { 65,
      "de1e5fa0be70df6d2be8fffd0e99ceaa8eb6e8c93a63f2d8d1c30ecb6b263dee",
      "51fd05c3c1cfbc8ed67d139ad76f5cf8236cd2acd26627a30c104dfd9d3ff8a8",
      "0e16e0a4749d6811dd1d6d1265c29729b1b75a9ac346cf93f0e1d7296dfcfd4313b3a227faaaaf7757cc95b4e87a49be3b8a270a12020233509b1c3632b3485eef309d0abc4a4a696c9decc6e90454b53b000f456a3f10079072baaf7a981653221f2c" },
    { 1023,
      "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
      "74a16c1c3d44368a86e1ca6df64be6a2f64cce8f09220787450722d85725dea5",
      "a182d27a591b05592b15607500e1e8dd56bc6c7fc063715b7a1d737df5bad3339c56778957d870eb9717b57ea3d9fb68d1b55127bba6a906a4a24bbd5acb2d123a37b28f9e9a81bbaae360d58f85e5fc9d75f7c370a0cc09b6522d9c8d822f2f28f485" },
    { 1024,
      "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
      "7356cd7720d5b66b6d0697eb3177d9f8d73a4a5c5e968896eb6a689684302706",
      "1cf8107265ecdaf8505b95d8fcec83a98a6a96ea5109d2c179c47a387ffbb404756f6eeae7883b446b70ebb144527c2075ab8ab204c0086bb22b7c93d465efc57f8d917f0b385c6df265e77003b85102967486ed57db5c5ca170ba441427ed9afa684e" },
    { 1025,
      "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
      "effaa245f065fbf82ac186839a249707c3bddf6d3fdda22d1b95a3c970379bcb",
      "f4c4a22b4b399155358a994e52bf255de60035742ec71bd08ac275a1b51cc6bfe332b0ef84b409108cda080e6269ed4b3e2c3f7d722aa4cdc98d16deb554e5627be8f955c98e1d5f9565a9194cad0c4285f93700062d9595adb992ae68ff12800ab67a" },
    { 2048,
      "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a",
      "7b2945cb4fef70885cc5d78a87bf6f6207dd901ff239201351ffac04e1088a23",
      "9a60bf80001410ec9eea6698cd537939fad4749edd484cb541aced55cd9bf54764d063f23f6f1e32e12958ba5cfeb1bf618ad094266d4fc3c968c2088f677454c288c67ba0dba337b9d91c7e1ba586dc9a5bc2d5e90c14f53a8863ac75655461cea8f9" },
    { 2049,
      "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030",
      "2ea477c5515cc3dd606512ee72bb3e0e758cfae7232826f35fb98ca1bcbdf273",
      "96de31d71d74103403822a2e0bc1eb193e7aecc9643a76b7bbc0c9f9c52e8783aae98764ca468962b5c2ec92f0c74eb5448d519713e09413719431c802f948dd5d90425a4ecdadece9eb178d80f26efccae630734dff63340285adec2aed3b51073ad3" },
    { 3072,
      "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2",
      "050df97f8c2ead654d9bb3ab8c9178edcd902a32f8495949feadcc1e0480c46b",
      "9a3f6b0b978d6608335c09dc94ccf682f9951cdfc501bfe47b9c9189a6fc7b404d120258506341a6d802857322fbd20d3e5dae05b95c88793fa83db1cb08e7d8008d1599b6209d78336e24839724c191b2a52a80448306e0daa84a3fdb566661a37e11" },
    { 3073,
      "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3",
      "72613c9ec9ff7e40f8f5c173784c532ad852e827dba2bf85b2ab4b76f7079081",
      "9a27ae3b79d68d89da9bf25bc27139ae65a324918a5f9b7828181e52cf373c84f35b639b7fccbb985b6f2fa56aea0c18f531203497b8bbd3a07ceb5926f1cab74d14bd66486d9a91eba99059a98bd1cd25876b2af5a76c3e9eed554ed72ea952b603bf" },
    { 4096,
      "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969",
      "1e0d7f3db8c414c97c6307cbda6cd27ac3b030949da8e23be1a1a924ad2f25b9",
      "0289e9409ddb1b99768eafe1623da896faf7e1114bebeadc1be30829b6f8af707d85c298f4f0ff4d9438aef948335612ae921e76d411c3a9111df62d27eaf871959ae0062b5492a0feb98ef3ed4af277f5395172dbe5c311918ea0074ce0036454f620" },
    { 5120,
      "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833",
      "7a7acac8a02adcf3038d74cdd1d34527de8a0fcc0ee3399d1262397ce5817f60",
      "acc61c8fdc114a2010ce8038c853e121e1544985133fccdd0a2d507e8e615e611e9a0ba4f47915f49e53d721816a9198e8b30f12d20ec3689989175f1bf7a300eee0d9321fad8da232ece6efb8e9fd81b42ad161f6b9550a069e66b11b40487a5f5059" },
    { 31744,
      "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47",
      "39772aef80e0ebe60596361e45b061e8f417429d529171b6764468c22928e28e",
      "860cc51f2b0c28a7b77304bd55fe73af663c02d3f52ea053ba43431ca5bab7bfea2f5e9d7121770d88f70ae9649ea713087d1914f7f312147e247f87eb2d4ffef0ac978bf7b6579d57d533355aa20b8b77b13fd09748728a5cc327a8ec470f4013226f" },
    { 102400,
      "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085",
      "4652cff7a3f385a6103b5c260fc1593e13c778dbe608efb092fe7ee69df6e9c6",
      "e01c59dab908c04c3342b816941a26d69c2605ebee5ec5291cc55e15b76146e6745f0601156c3596cb75065a9c57f35585a52e1ac70f69131c23d611ce11ee4ab1ec2c009012d236648e77be9295dd0426f29b764d65de58eb7d01dd42248204f45f8e" },
};

static void input(uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i % 251);
}

static void assert_hex(const uint8_t *got, size_t len, const char *want)
{
    char hex[2 * XOF_LEN + 1];

    sodium_bin2hex(hex, sizeof(hex), got, len);
    assert_string_equal(hex, want);
}

static void test_hash(void **state)
{
    uint8_t *in = malloc(102400), out[XOF_LEN];

    (void)state;
    assert_non_null(in);
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct vector *v = &vectors[i];
        input(in, v->len);
        otb_blake3_hash(in, v->len, out, 32);
        assert_hex(out, 32, v->hash);
        otb_blake3_hash(in, v->len, out, XOF_LEN);
        assert_hex(out, 32, v->hash); /* a longer output extends the shorter one */
        assert_hex(out + 32, XOF_LEN - 32, v->xof_tail);
    }
    free(in);
}

static void test_derive_key(void **state)
{
    uint8_t *in = malloc(102400), out[32], half[16];

    (void)state;
    assert_non_null(in);
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct vector *v = &vectors[i];
        input(in, v->len);
        otb_blake3_derive_key(CONTEXT, in, v->len, out, sizeof(out));
        assert_hex(out, sizeof(out), v->derive_key);
        /* A 16-byte subkey (2022-blake3-aes-128-gcm) is the 32-byte one's prefix. */
        otb_blake3_derive_key(CONTEXT, in, v->len, half, sizeof(half));
        assert_memory_equal(half, out, sizeof(half));
    }
    free(in);
}

/* The Shadowsocks 2022 context on a PSK || salt (b3sum --derive-key
 * "shadowsocks 2022 session subkey" over bytes 0..63). */
static void test_ss2022_subkey(void **state)
{
    uint8_t in[64], out[32];

    (void)state;
    input(in, sizeof(in));
    otb_blake3_derive_key("shadowsocks 2022 session subkey", in, sizeof(in), out, sizeof(out));
    assert_hex(out, sizeof(out), SS2022_SUBKEY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_derive_key),
        cmocka_unit_test(test_ss2022_subkey),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
