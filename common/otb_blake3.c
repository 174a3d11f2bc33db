/* BLAKE3, written from the specification (section 2): the compression
 * function, 1024-byte chunks of 64-byte blocks, a binary tree of parent
 * nodes built with a stack of chaining values, and the root node's output
 * extended by its counter. Serial and portable: key derivation hashes a few
 * dozen bytes, so no SIMD. */
#include "otb_blake3.h"

#include <string.h>

#include <sodium.h>

#define B3_BLOCK_LEN 64
#define B3_CHUNK_LEN 1024
/* 2^54 chunks is the most a 64-bit length can hold. */
#define B3_MAX_DEPTH 54

enum {
    B3_CHUNK_START = 1 << 0,
    B3_CHUNK_END = 1 << 1,
    B3_PARENT = 1 << 2,
    B3_ROOT = 1 << 3,
    B3_DERIVE_KEY_CONTEXT = 1 << 5,
    B3_DERIVE_KEY_MATERIAL = 1 << 6,
};

static const uint32_t b3_iv[8] = {
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
};

static const uint8_t b3_perm[16] = { 2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8 };

static uint32_t b3_rotr(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static uint32_t b3_load32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void b3_g(uint32_t s[16], int a, int b, int c, int d, uint32_t mx, uint32_t my)
{
    s[a] = s[a] + s[b] + mx;
    s[d] = b3_rotr(s[d] ^ s[a], 16);
    s[c] = s[c] + s[d];
    s[b] = b3_rotr(s[b] ^ s[c], 12);
    s[a] = s[a] + s[b] + my;
    s[d] = b3_rotr(s[d] ^ s[a], 8);
    s[c] = s[c] + s[d];
    s[b] = b3_rotr(s[b] ^ s[c], 7);
}

/* The full 16-word output: the first 8 words are the chaining value, all 16
 * the root's output block. */
static void b3_compress(const uint32_t cv[8], const uint8_t block[B3_BLOCK_LEN], uint64_t counter,
                        uint32_t block_len, uint32_t flags, uint32_t out[16])
{
    uint32_t s[16], m[16], t[16];

    for (int i = 0; i < 16; i++)
        m[i] = b3_load32(block + 4 * i);
    memcpy(s, cv, 8 * sizeof(uint32_t));
    memcpy(s + 8, b3_iv, 4 * sizeof(uint32_t));
    s[12] = (uint32_t)counter;
    s[13] = (uint32_t)(counter >> 32);
    s[14] = block_len;
    s[15] = flags;
    for (int round = 0; round < 7; round++) {
        b3_g(s, 0, 4, 8, 12, m[0], m[1]); /* columns */
        b3_g(s, 1, 5, 9, 13, m[2], m[3]);
        b3_g(s, 2, 6, 10, 14, m[4], m[5]);
        b3_g(s, 3, 7, 11, 15, m[6], m[7]);
        b3_g(s, 0, 5, 10, 15, m[8], m[9]); /* diagonals */
        b3_g(s, 1, 6, 11, 12, m[10], m[11]);
        b3_g(s, 2, 7, 8, 13, m[12], m[13]);
        b3_g(s, 3, 4, 9, 14, m[14], m[15]);
        for (int i = 0; i < 16; i++)
            t[i] = m[b3_perm[i]];
        memcpy(m, t, sizeof(m));
    }
    for (int i = 0; i < 8; i++) {
        out[i] = s[i] ^ s[i + 8];
        out[i + 8] = s[i + 8] ^ cv[i];
    }
    sodium_memzero(s, sizeof(s));
    sodium_memzero(m, sizeof(m));
    sodium_memzero(t, sizeof(t));
}

/* A node not compressed yet: the last block of a chunk or a parent. Kept so
 * that the root can be compressed with the ROOT flag and any counter. */
struct b3_node {
    uint32_t cv[8];
    uint8_t block[B3_BLOCK_LEN];
    uint64_t counter;
    uint32_t block_len, flags;
};

static void b3_node_cv(const struct b3_node *n, uint32_t cv[8])
{
    uint32_t out[16];

    b3_compress(n->cv, n->block, n->counter, n->block_len, n->flags, out);
    memcpy(cv, out, 8 * sizeof(uint32_t));
    sodium_memzero(out, sizeof(out));
}

static void b3_store_cv(uint8_t *p, const uint32_t cv[8])
{
    for (int i = 0; i < 8; i++) {
        p[4 * i] = (uint8_t)cv[i];
        p[4 * i + 1] = (uint8_t)(cv[i] >> 8);
        p[4 * i + 2] = (uint8_t)(cv[i] >> 16);
        p[4 * i + 3] = (uint8_t)(cv[i] >> 24);
    }
}

static void b3_parent(struct b3_node *n, const uint32_t key[8], const uint32_t left[8],
                      const uint32_t right[8], uint32_t flags)
{
    memcpy(n->cv, key, sizeof(n->cv));
    b3_store_cv(n->block, left);
    b3_store_cv(n->block + 32, right);
    n->counter = 0;
    n->block_len = B3_BLOCK_LEN;
    n->flags = flags | B3_PARENT;
}

/* Compresses every block of one chunk but the last, which is left in n. */
static void b3_chunk(struct b3_node *n, const uint32_t key[8], uint64_t index, const uint8_t *in,
                     size_t len, uint32_t flags)
{
    uint32_t start = B3_CHUNK_START, out[16];

    memcpy(n->cv, key, sizeof(n->cv));
    while (len > B3_BLOCK_LEN) {
        b3_compress(n->cv, in, index, B3_BLOCK_LEN, flags | start, out);
        memcpy(n->cv, out, sizeof(n->cv));
        start = 0;
        in += B3_BLOCK_LEN;
        len -= B3_BLOCK_LEN;
    }
    memset(n->block, 0, sizeof(n->block));
    memcpy(n->block, in, len); /* len may be 0: the empty input */
    n->counter = index;
    n->block_len = (uint32_t)len;
    n->flags = flags | start | B3_CHUNK_END;
    sodium_memzero(out, sizeof(out));
}

/* The whole input under key and flags; the root node left in root. The
 * stack holds the chaining values of complete subtrees: after chunk i
 * (counting from 1), one per set bit of i, merged as the bits carry. */
static void b3_tree(const uint32_t key[8], uint32_t flags, const uint8_t *in, size_t len,
                    struct b3_node *root)
{
    uint32_t stack[B3_MAX_DEPTH][8], cv[8];
    size_t depth = 0;
    uint64_t chunk = 0;

    /* Every chunk but the last is complete and goes onto the stack. */
    while (len > B3_CHUNK_LEN) {
        b3_chunk(root, key, chunk, in, B3_CHUNK_LEN, flags);
        b3_node_cv(root, cv);
        chunk++;
        for (uint64_t total = chunk; (total & 1) == 0; total >>= 1) {
            struct b3_node parent;
            b3_parent(&parent, key, stack[--depth], cv, flags);
            b3_node_cv(&parent, cv);
        }
        memcpy(stack[depth++], cv, sizeof(cv));
        in += B3_CHUNK_LEN;
        len -= B3_CHUNK_LEN;
    }
    b3_chunk(root, key, chunk, in, len, flags);
    /* The last chunk joins the stacked subtrees from the right. */
    while (depth > 0) {
        b3_node_cv(root, cv);
        b3_parent(root, key, stack[--depth], cv, flags);
    }
    sodium_memzero(stack, sizeof(stack));
    sodium_memzero(cv, sizeof(cv));
}

/* The root's output: 64 bytes per value of the output counter. */
static void b3_root_output(const struct b3_node *root, uint8_t *out, size_t out_len)
{
    uint32_t words[16];

    for (uint64_t counter = 0; out_len > 0; counter++) {
        uint8_t block[B3_BLOCK_LEN];
        size_t n = out_len < B3_BLOCK_LEN ? out_len : B3_BLOCK_LEN;
        b3_compress(root->cv, root->block, counter, root->block_len, root->flags | B3_ROOT,
                    words);
        b3_store_cv(block, words);
        b3_store_cv(block + 32, words + 8);
        memcpy(out, block, n);
        sodium_memzero(block, sizeof(block));
        out += n;
        out_len -= n;
    }
    sodium_memzero(words, sizeof(words));
}

static void b3_run(const uint32_t key[8], uint32_t flags, const uint8_t *in, size_t len,
                   uint8_t *out, size_t out_len)
{
    struct b3_node root;

    b3_tree(key, flags, in, len, &root);
    b3_root_output(&root, out, out_len);
    sodium_memzero(&root, sizeof(root));
}

void otb_blake3_hash(const uint8_t *in, size_t len, uint8_t *out, size_t out_len)
{
    b3_run(b3_iv, 0, in, len, out, out_len);
}

void otb_blake3_derive_key(const char *context, const uint8_t *material, size_t len,
                           uint8_t *out, size_t out_len)
{
    uint8_t context_key[OTB_BLAKE3_OUT_LEN];
    uint32_t key[8];

    /* The context string hashed under the IV gives the key of the material. */
    b3_run(b3_iv, B3_DERIVE_KEY_CONTEXT, (const uint8_t *)context, strlen(context), context_key,
           sizeof(context_key));
    for (int i = 0; i < 8; i++)
        key[i] = b3_load32(context_key + 4 * i);
    b3_run(key, B3_DERIVE_KEY_MATERIAL, material, len, out, out_len);
    sodium_memzero(context_key, sizeof(context_key));
    sodium_memzero(key, sizeof(key));
}
