/* otb-boxconf: reads the box's JSON config with otb-redir's own parser and
 * writes what otb-firewall applies: the nft table (from the otb.nft
 * template), the ip rules and routes of each WAN, the MPTCP endpoints, and a
 * summary for the state file. Every check is done here, before anything is
 * applied: a bad config is one line naming the key and exit 2. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "boxconf.h"
#include "otb_config.h"
#include "otb_nft_template.h"

#define OTB_BOXCONF_EXIT_SYSTEM 1
#define OTB_BOXCONF_EXIT_USAGE 2
#define OTB_BOXCONF_FILE_MAX (16 * 1024 * 1024)

struct otb_boxconf_opts {
    const char *config;
    const char *out_dir;
    const char *template_path;
    bool summary;
    bool table_name;
};

static void otb_boxconf_usage(FILE *out)
{
    fprintf(out,
            "Usage: otb-boxconf --config FILE [--out DIR] [--template FILE] [--summary]\n"
            "       otb-boxconf --config FILE --table-name\n"
            "Checks the box's JSON config (the one otb-redir reads) and, with --out, writes\n"
            "DIR/firewall.nft (nft -f), DIR/routes (ip argument lines), DIR/mptcp\n"
            "(ADDRESS IFACE backup|nobackup) and DIR/summary. --summary prints the summary.\n"
            "--table-name prints \"firewall\" \"table\" (default otb) without checking the rest:\n"
            "what `otb-firewall down` needs after a bad edit.\n"
            "Exit status: 0 ok, 1 system failure, 2 bad config (one line naming the key).\n");
}

/* Whole file, NUL-terminated; NULL with errno set. */
static char *otb_boxconf_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t n = 0;

    if (f == NULL)
        return NULL;
    buf = malloc(OTB_BOXCONF_FILE_MAX + 1);
    if (buf != NULL) {
        n = fread(buf, 1, OTB_BOXCONF_FILE_MAX + 1, f);
        if (ferror(f) || n > OTB_BOXCONF_FILE_MAX) {
            free(buf);
            buf = NULL;
            errno = EFBIG;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

static int otb_boxconf_load(struct otb_config *cfg, const char *path)
{
    char err[512];
    size_t len;
    char *text = otb_boxconf_slurp(path, &len);
    int rc;

    if (text == NULL) {
        fprintf(stderr, "cannot read config file %s: %s\n", path, strerror(errno));
        return OTB_BOXCONF_EXIT_USAGE;
    }
    otb_config_defaults(cfg, OTB_PROG_REDIR);
    rc = otb_config_apply_json(cfg, text, len, err, sizeof(err));
    free(text);
    if (rc != OTB_CONFIG_OK) {
        fprintf(stderr, "%s: %s\n", path, err);
        return OTB_BOXCONF_EXIT_USAGE;
    }
    return 0;
}

/* One bypass file line: "CIDR", blanks and "# comments" allowed. */
static int otb_boxconf_bypass_line(char *line, struct otb_cidr *out)
{
    char *end;

    line[strcspn(line, "#\r\n")] = '\0';
    line += strspn(line, " \t");
    end = line + strlen(line);
    while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    if (*line == '\0')
        return 0;
    return otb_policy_parse_cidr(line, out) < 0 ? -1 : 1;
}

static int otb_boxconf_bypass_file(const char *path, struct otb_cidr **list, size_t *n,
                                   size_t *cap)
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t size = 0;
    unsigned lineno = 0;
    int rc = 0;

    if (f == NULL) {
        fprintf(stderr, "config key \"firewall\": \"bypass_files\": cannot read %s: %s\n", path,
                strerror(errno));
        return OTB_BOXCONF_EXIT_USAGE;
    }
    /* getline: a long line (a comment) is one line, never split into a false "bad CIDR". */
    while (rc == 0 && getline(&line, &size, f) >= 0) {
        lineno++;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            struct otb_cidr *grown = realloc(*list, *cap * sizeof(**list));
            if (grown == NULL) {
                fprintf(stderr, "out of memory\n");
                rc = OTB_BOXCONF_EXIT_SYSTEM;
                break;
            }
            *list = grown;
        }
        int one = otb_boxconf_bypass_line(line, &(*list)[*n]);
        if (one < 0) {
            fprintf(stderr, "config key \"firewall\": \"bypass_files\": %s:%u: bad CIDR\n", path,
                    lineno);
            rc = OTB_BOXCONF_EXIT_USAGE;
        } else {
            *n += (size_t)one;
        }
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "config key \"firewall\": \"bypass_files\": cannot read %s\n", path);
        rc = OTB_BOXCONF_EXIT_USAGE;
    }
    free(line);
    fclose(f);
    return rc;
}

static int otb_boxconf_write(const char *dir, const char *name, const struct otb_fw_plan *pl,
                             const struct otb_fw_facts *facts, const char *tmpl)
{
    char path[4096], err[256];
    FILE *f;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "we")) == NULL) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return OTB_BOXCONF_EXIT_SYSTEM;
    }
    if (strcmp(name, "firewall.nft") == 0 && otb_fwplan_nft(pl, tmpl, f, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        rc = OTB_BOXCONF_EXIT_USAGE;
    } else if (strcmp(name, "routes") == 0) {
        otb_fwplan_routes(pl, facts, f);
    } else if (strcmp(name, "mptcp") == 0) {
        otb_fwplan_mptcp(pl, facts, f);
    } else if (strcmp(name, "summary") == 0) {
        otb_fwplan_summary(pl, f);
    }
    /* A short routes or nft file must not be applied as if whole. */
    if ((ferror(f) | fclose(f)) != 0 && rc == 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        rc = OTB_BOXCONF_EXIT_SYSTEM;
    }
    return rc;
}

static int otb_boxconf_plan(const struct otb_fw_plan *pl, const struct otb_boxconf_opts *o)
{
    static const char *const files[] = { "firewall.nft", "routes", "mptcp", "summary" };
    struct otb_fw_facts facts;
    char *tmpl = NULL;
    int rc;

    if (o->template_path && (tmpl = otb_boxconf_slurp(o->template_path, NULL)) == NULL) {
        fprintf(stderr, "cannot read template %s: %s\n", o->template_path, strerror(errno));
        return OTB_BOXCONF_EXIT_USAGE;
    }
    if ((rc = otb_boxconf_facts(&pl->cfg->policy, &facts)) < 0) {
        fprintf(stderr, "cannot read interfaces and routes: %s\n", strerror(-rc));
        free(tmpl);
        return OTB_BOXCONF_EXIT_SYSTEM;
    }
    rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(files) / sizeof(files[0]); i++)
        rc = otb_boxconf_write(o->out_dir, files[i], pl, &facts,
                               tmpl ? tmpl : otb_nft_template);
    if (rc == 0)
        otb_fwplan_notes(pl, &facts, stderr);
    free(tmpl);
    return rc;
}

/* Only "firewall": {"table"}: down must work whatever else an edit broke. */
static int otb_boxconf_table_name(const char *path)
{
    char *text = otb_boxconf_slurp(path, NULL);
    struct json_object *root, *fw, *t;
    const char *name = "otb";
    int rc = 0;

    if (text == NULL) {
        fprintf(stderr, "cannot read config file %s: %s\n", path, strerror(errno));
        return OTB_BOXCONF_EXIT_USAGE;
    }
    root = json_tokener_parse(text);
    free(text);
    if (root == NULL) {
        fprintf(stderr, "%s: not a JSON document\n", path);
        return OTB_BOXCONF_EXIT_USAGE;
    }
    if (json_object_object_get_ex(root, "firewall", &fw) &&
        json_object_object_get_ex(fw, "table", &t)) {
        name = json_object_is_type(t, json_type_string) ? json_object_get_string(t) : "";
        if (!otb_policy_table_name_ok(name)) {
            fprintf(stderr, "%s: config key \"firewall\": \"table\" must be "
                    "[a-z][a-z0-9_]*, at most 16 characters\n", path);
            rc = OTB_BOXCONF_EXIT_USAGE;
        }
    }
    if (rc == 0)
        printf("%s\n", name);
    json_object_put(root);
    return rc;
}

static int otb_boxconf_args(int argc, char **argv, struct otb_boxconf_opts *o)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' }, { "out", required_argument, NULL, 'o' },
        { "template", required_argument, NULL, 't' }, { "summary", no_argument, NULL, 's' },
        { "table-name", no_argument, NULL, 'n' },     { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:c:o:t:snh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'o': o->out_dir = optarg; break;
        case 't': o->template_path = optarg; break;
        case 's': o->summary = true; break;
        case 'n': o->table_name = true; break;
        case 'h': otb_boxconf_usage(stdout); return 0;
        default:
            fprintf(stderr, "otb-boxconf: bad option (see --help)\n");
            return OTB_BOXCONF_EXIT_USAGE;
        }
    }
    if (optind < argc || o->config == NULL) {
        fprintf(stderr, "otb-boxconf: expected --config FILE (see --help)\n");
        return OTB_BOXCONF_EXIT_USAGE;
    }
    return -1;
}

int main(int argc, char **argv)
{
    static struct otb_config cfg;
    struct otb_boxconf_opts o = { 0 };
    struct otb_fw_plan pl;
    struct otb_cidr *extra = NULL;
    size_t n_extra = 0, cap = 0;
    char err[512];
    int rc = otb_boxconf_args(argc, argv, &o);

    if (rc >= 0)
        return rc;
    if (o.table_name)
        return otb_boxconf_table_name(o.config);
    if ((rc = otb_boxconf_load(&cfg, o.config)) != 0)
        return rc;
    for (size_t i = 0; i < cfg.policy.fw.n_bypass_files && rc == 0; i++)
        rc = otb_boxconf_bypass_file(cfg.policy.fw.bypass_files[i], &extra, &n_extra, &cap);
    if (rc == 0 && otb_fwplan_init(&pl, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", o.config, err);
        rc = OTB_BOXCONF_EXIT_USAGE;
    }
    if (rc == 0) {
        pl.extra_bypass = extra;
        pl.n_extra_bypass = n_extra;
        if (o.summary)
            otb_fwplan_summary(&pl, stdout);
        if (o.out_dir)
            rc = otb_boxconf_plan(&pl, &o);
    }
    free(extra);
    return rc;
}
