/* The configuration file: shadowsocks-libev compatible JSON, each key
 * through the key table (otb_config_keys.c). */
#include "otb_config_keys.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Real config files are a few hundred bytes; anything this big is a wrong path. */
#define OTB_CONFIG_FILE_MAX (1024 * 1024)

/* Line of a byte offset, for JSON syntax errors. */
static unsigned otb_config_line_of(const char *text, size_t offset)
{
    unsigned line = 1;
    for (size_t i = 0; i < offset; i++)
        line += text[i] == '\n';
    return line;
}

/* Comments are allowed (json-c's non-strict mode), as shadowsocks-libev's
 * parser allows them. */
static int otb_config_parse_json(struct otb_config_ctx *ctx, const char *text, size_t len,
                                 struct json_object **out)
{
    if (len > INT_MAX)
        return otb_config_fail(ctx, "invalid JSON: too large");
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return otb_config_fail(ctx, "out of memory");
    struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    /* The tokener's string buffer last held a value, maybe the password. */
    if (tok->pb != NULL && tok->pb->buf != NULL)
        sodium_memzero(tok->pb->buf, (size_t)tok->pb->size);
    json_tokener_free(tok);

    if (root == NULL && jerr == json_tokener_continue)
        return otb_config_fail(ctx, "invalid JSON: unexpected end of file");
    if (root == NULL)
        return otb_config_fail(ctx, "invalid JSON at line %u: %s", otb_config_line_of(text, end),
                               json_tokener_error_desc(jerr));
    while (end < len && isspace((unsigned char)text[end]))
        end++;
    if (end < len) {
        json_object_put(root);
        return otb_config_fail(ctx, "invalid JSON at line %u: unexpected text after the object",
                               otb_config_line_of(text, end));
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return otb_config_fail(ctx, "invalid JSON: expected an object { ... }");
    }
    *out = root;
    return OTB_CONFIG_OK;
}

/* Keys for other programs (e.g. "tunnel_address" read by otb-server) are
 * accepted: shadowsocks-libev users share one file between programs. */
static int otb_config_apply_object(struct otb_config_ctx *ctx, struct json_object *root)
{
    struct json_object *wans;

    /* Pins name WANs: read the WANs first, wherever they stand in the file. */
    if (json_object_object_get_ex(root, "wans", &wans) && wans &&
        otb_config_set(ctx, otb_config_find_key("wans"), "config key \"wans\"", NULL, wans) !=
            OTB_CONFIG_OK)
        return OTB_CONFIG_ERROR;
    json_object_object_foreach(root, name, val)
    {
        const struct otb_config_key *k = otb_config_find_key(name);
        if (k && k->type == OTB_CFG_WANS)
            continue;
        char label[96];
        if (k == NULL)
            return otb_config_fail(ctx, "unknown config key \"%.64s\"", name);
        snprintf(label, sizeof(label), "config key \"%s\"", k->name);
        /* json-c's null is a NULL pointer, which the setters read as "from a flag". */
        if (val == NULL)
            return otb_config_fail(ctx, "%s: null is not a valid value", label);
        int rc = otb_config_set(ctx, k, label, NULL, val);
        if (rc != OTB_CONFIG_OK)
            return rc;
    }
    return OTB_CONFIG_OK;
}

/* Every string of the document is zeroed before json-c frees it: one of
 * them is the password, and freed memory keeps its bytes. */
static void otb_config_wipe_json(struct json_object *o)
{
    if (json_object_is_type(o, json_type_string)) {
        sodium_memzero((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            otb_config_wipe_json(json_object_array_get_idx(o, i));
    } else if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, name, val)
        {
            (void)name;
            if (val != NULL)
                otb_config_wipe_json(val);
        }
    }
}

int otb_config_apply_json(struct otb_config *cfg, const char *text, size_t len, char *err,
                          size_t errlen)
{
    struct otb_config_ctx ctx = { .cfg = cfg, .err = err, .errlen = errlen };
    struct json_object *root;
    int rc = otb_config_parse_json(&ctx, text, len, &root);
    if (rc != OTB_CONFIG_OK)
        return rc;
    rc = otb_config_apply_object(&ctx, root);
    otb_config_wipe_json(root);
    json_object_put(root);
    sodium_memzero(ctx.num, sizeof(ctx.num));
    return rc;
}

/* 0 or an errno value. */
static int otb_config_read_file(const char *path, char **out, size_t *outlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return errno;
    char *buf = malloc(OTB_CONFIG_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return ENOMEM;
    }
    /* Unbuffered: stdio's own buffer would keep a copy of the text after fclose. */
    setvbuf(f, NULL, _IONBF, 0);
    size_t n = fread(buf, 1, OTB_CONFIG_FILE_MAX + 1, f);
    int e = ferror(f) ? (errno != 0 ? errno : EIO) : 0;
    fclose(f);
    if (e == 0 && n > OTB_CONFIG_FILE_MAX)
        e = EFBIG;
    if (e != 0) {
        sodium_memzero(buf, n);
        free(buf);
        return e;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

int otb_config_apply_file(struct otb_config_ctx *ctx, const char *path)
{
    char inner[512];
    char *text = NULL;
    size_t len = 0;

    errno = 0;
    int e = otb_config_read_file(path, &text, &len);
    if (e != 0)
        return otb_config_fail(ctx, "config file \"%s\": cannot read: %s", path, strerror(e));
    int rc = otb_config_apply_json(ctx->cfg, text, len, inner, sizeof(inner));
    /* The file text holds the password. */
    sodium_memzero(text, len);
    free(text);
    if (rc != OTB_CONFIG_OK)
        return otb_config_fail(ctx, "%s: %s", path, inner);
    return OTB_CONFIG_OK;
}
