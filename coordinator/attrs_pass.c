/* attrs_pass.c - the attributes pass on the loop's side (docs/attributes.md): where the attribute
 * files may go, the flagged documents and folder its switch recorded, each file's lease, and the
 * files it could not write. The switch itself is the collector's (select.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/coordinator_internal.h"

/* An attribute file goes to the path its input file has under the corpus's folder
 * (ps_plan_common_dir_len), put under --attributes: a folder inside the corpus's would put
 * attribute files where the next scan takes them for documents, or over the documents. */
int ps_coord_check_attributes_dir(const struct coord *c, struct ps_errdetail *ed)
{
    const char *dir = c->attributes_dir;
    size_t common = dir != NULL ? ps_plan_common_dir_len(c->plan) : 0;
    bool inside;

    if (common == 0)
        return 0;
    /* "<dir>/" starts with the corpus's folder; under "/" only "/" itself writes over inputs */
    inside = strcmp(dir, "/") == 0 ||
             (common > 1 && strncmp(dir, ps_plan_file(c->plan, 0), common - 1) == 0 &&
              (dir[common - 1] == '\0' || dir[common - 1] == '/'));
    if (inside) {
        ps_errdetail_set(ed, NULL, 0,
                         "--attributes '%s' is inside the corpus's folder '%.*s' (the next scan "
                         "would read attribute files as documents): put it beside, e.g. "
                         "'attributes/poisonscan' beside 'documents'",
                         dir, (int)common, ps_plan_file(c->plan, 0));
        return 3;
    }
    return 0;
}

/* The attributes pass: the folder its switch recorded and the flagged documents by file. */
enum ps_err ps_coord_load_attrs(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_buf text;
    char key[256];
    bool found_dir = false, found_set = false;
    enum ps_err err;

    ps_attrset_free(c->attrs);
    c->attrs = NULL;
    free(c->attrs_dir);
    c->attrs_dir = NULL;
    ps_buf_init(&text, PS_BUF_NO_LIMIT);
    err = ps_store_hget(c->store, c->k_meta, "attributes", &text, &found_dir, ed);
    if (err == PS_OK && found_dir)
        c->attrs_dir = ps_xstrdup(text.data);
    ps_store_key(key, sizeof(key), c->o->job, PS_KEY_ATTRS);
    ps_buf_reset(&text);
    if (err == PS_OK)
        err = ps_store_get(c->store, key, &text, &found_set, ed);
    if (err == PS_OK && (!found_dir || !found_set || c->attrs_dir[0] != '/')) {
        ps_errdetail_set(ed, NULL, 0, "job '%s' is in the attributes pass but has no %s", c->o->job,
                         found_dir ? "flagged documents" : "attributes folder");
        err = PS_ERR_PROTO;
    }
    if (err == PS_OK)
        err = ps_attrset_decode(&c->attrs, text.data, text.len, ps_plan_n_files(c->plan), ed);
    c->attrs_common = ps_plan_common_dir_len(c->plan);
    ps_buf_release(&text);
    return err;
}

/* An attributes-pass lease is for the whole file of shard `s` (its first): the attribute file's
 * path, the file's path under the corpus's folder put under the job's attributes folder, and
 * the file's flagged documents. */
void ps_coord_attrs_lease(const struct coord *c, const struct ps_shard *s, Poisonscan__Lease *lease,
                          char *path, size_t path_cap)
{
    size_t n;

    snprintf(path, path_cap, "%s/%s", c->attrs_dir, s->path + c->attrs_common);
    lease->attributes_path = path;
    lease->begin = 0;
    lease->end = ps_plan_file_size(c->plan, s->file_index);
    lease->flagged = (uint64_t *)(uintptr_t)ps_attrset_file(c->attrs, s->file_index, &n);
    lease->n_flagged = n;
}

/* The attributes pass is over: the files it could not write are in no report (it comes after),
 * so say how many, and where their reasons are. */
void ps_coord_note_attrs_failed(struct coord *c)
{
    struct ps_store_reply *r = NULL;
    struct ps_errdetail ed = {0};
    char key[256];

    ps_coord_pass_key(c, key, sizeof(key), PS_KEY_FAILED, PS_PASS_ATTRS);
    if (ps_store_cmd(c->store, &r, &ed, "HLEN", key, NULL) == PS_OK && ps_store_reply_int(r) > 0)
        ps_log(PS_LOG_ERROR, "coordinator",
               "%lld input files have no attribute file under '%s' (their reasons: HGETALL %s)",
               ps_store_reply_int(r), c->attrs_dir, key);
    ps_store_reply_free(r);
}
