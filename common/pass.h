/* pass.h - the passes of a job, named once for both sides of the wire: the number travels in
 * Lease, Heartbeat and ShardResult and is part of every per-pass Redis key and commit marker. */
#ifndef PS_COMMON_PASS_H
#define PS_COMMON_PASS_H

enum ps_pass {
    PS_PASS_NONE = 0,    /* an idle heartbeat names no pass */
    PS_PASS_SCAN = 1,    /* read every shard: candidates, sentence sketch, totals */
    PS_PASS_CONFIRM = 2, /* count the selected candidates, and the leads of repeated segments */
    PS_PASS_LEADS = 3,   /* count the selected leads with "followed by repeated sentences" */
    PS_PASS_LIST = 4,    /* record the documents of the patterns that may be flagged */
    PS_PASS_ATTRS = 5,   /* after the report (--attributes): write each input file's attribute
                            file, one lease per file */
    PS_PASS__LAST = PS_PASS_ATTRS
};

/* "none", "scan", "confirm", "leads", "list", "attributes", or "unknown" for a number that is
 * no pass; static. */
static inline const char *ps_pass_name(unsigned pass)
{
    static const char *const names[] = {"none", "scan", "confirm", "leads", "list", "attributes"};

    return pass <= PS_PASS__LAST ? names[pass] : "unknown";
}

/* Passes that carry candidate texts in their leases. */
static inline int ps_pass_has_candidates(unsigned pass)
{
    return pass == PS_PASS_CONFIRM || pass == PS_PASS_LEADS || pass == PS_PASS_LIST;
}

#endif
