/* Candidate search: the node (best fit) or the fewest, closest nodes that hold a domain. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "planner-internal.h"

/* Units a set of nodes gives, largest capacity first, into take[]. */
static void fill_takes(const unsigned *cap, const unsigned *nodes, unsigned count, unsigned units, unsigned *take) {
        unsigned left = units;
        for (unsigned i = 0; i < count; i++) {
                take[i] = cap[nodes[i]] < left ? cap[nodes[i]] : left;
                left -= take[i];
        }
}

/* Sum of the distances between every two members of a set (both directions: hwloc's matrix need
 * not be symmetric). */
static uint64_t set_distance(const Planner *p, const unsigned *nodes, unsigned count) {
        unsigned n_nodes = p->t->n_nodes;
        uint64_t sum = 0;
        for (unsigned i = 0; i < count; i++)
                for (unsigned j = i + 1; j < count; j++)
                        sum += p->distance[nodes[i] * n_nodes + nodes[j]] + p->distance[nodes[j] * n_nodes + nodes[i]];
        return sum;
}

/* Node indexes with capacity, largest capacity first (index breaking ties), into order[]. */
static unsigned by_capacity(const Planner *p, const unsigned *cap, unsigned *order) {
        unsigned m = 0;
        for (unsigned n = 0; n < p->t->n_nodes; n++) {
                if (cap[n] == 0)
                        continue;
                unsigned j = m++;
                while (j > 0 && cap[order[j - 1]] < cap[n]) {
                        order[j] = order[j - 1];
                        j--;
                }
                order[j] = n;
        }
        return m;
}

typedef struct SetSearch {
        const unsigned *cap, *order; /* order: nodes by capacity, largest first */
        unsigned m, units, k;
        uint8_t *in, *top; /* per node: in the set being grown; among the largest outside it */
        uint64_t *added; /* per node: its distance to the set being grown */
        unsigned *set, *take; /* the set being grown (n_nodes each, as the three below) */
        unsigned *best, *best_take;
        uint64_t best_score;
        bool found;
} SetSearch;

/* Marks the r nodes of largest capacity outside the set in top[]; returns what they give, and
 * in *ret_next the capacity of the next one (what replaces a marked node that joins the set). */
static uint64_t mark_top(SetSearch *s, unsigned n_nodes, unsigned r, unsigned *ret_next) {
        memset(s->top, 0, n_nodes);
        uint64_t sum = 0;
        *ret_next = 0;
        for (unsigned i = 0; i < s->m; i++) {
                unsigned n = s->order[i];
                if (s->in[n])
                        continue;
                if (r == 0) {
                        *ret_next = s->cap[n];
                        break;
                }
                s->top[n] = 1;
                sum += s->cap[n];
                r--;
        }
        return sum;
}

/* Grows a set of exactly k nodes from start: each step adds the node closest to the set among
 * those that still let k nodes reach the units. Returns whether it got there. */
static bool grow_set(Planner *p, SetSearch *s, unsigned start) {
        unsigned n_nodes = p->t->n_nodes;
        memset(s->in, 0, n_nodes);
        for (unsigned n = 0; n < n_nodes; n++)
                s->added[n] = p->distance[start * n_nodes + n] + p->distance[n * n_nodes + start];
        s->in[start] = 1;
        s->set[0] = start;
        uint64_t got = s->cap[start];
        for (unsigned size = 1; size < s->k; size++) {
                unsigned next;
                uint64_t rest = mark_top(s, n_nodes, s->k - size - 1, &next);
                int pick = -1;
                for (unsigned i = 0; i < s->m; i++) {
                        unsigned n = s->order[i];
                        uint64_t others = s->top[n] ? rest - s->cap[n] + next : rest;
                        if (s->in[n] || got + s->cap[n] + others < s->units)
                                continue;
                        if (pick < 0 || s->added[n] < s->added[pick])
                                pick = (int) n;
                }
                if (pick < 0)
                        return false;
                s->in[pick] = 1;
                s->set[size] = (unsigned) pick;
                got += s->cap[pick];
                for (unsigned n = 0; n < n_nodes; n++)
                        s->added[n] +=
                                p->distance[(unsigned) pick * n_nodes + n] + p->distance[n * n_nodes + (unsigned) pick];
        }
        return got >= s->units;
}

/* Keeps the set if the caller's check passes and it is closer than the best so far. */
static void consider(Planner *p, const Need *need, SetSearch *s, SetFits fits) {
        /* Takes come largest capacity first: sort the set so (it is small) */
        for (unsigned i = 1; i < s->k; i++)
                for (unsigned j = i; j > 0 && s->cap[s->set[j - 1]] < s->cap[s->set[j]]; j--) {
                        unsigned x = s->set[j];
                        s->set[j] = s->set[j - 1];
                        s->set[j - 1] = x;
                }
        uint64_t score = set_distance(p, s->set, s->k);
        if (s->found && score >= s->best_score)
                return;
        fill_takes(s->cap, s->set, s->k, s->units, s->take);
        if (!fits(p, need, s->set, s->take, s->k, s->units))
                return;
        s->found = true;
        s->best_score = score;
        memcpy(s->best, s->set, s->k * sizeof(unsigned));
        memcpy(s->best_take, s->take, s->k * sizeof(unsigned));
}

/* The closest set of exactly k nodes: every pair for two, grown from every start beyond. */
static bool closest_set(Planner *p, const Need *need, SetSearch *s, SetFits fits) {
        s->found = false;
        for (unsigned a = 0; a < s->m; a++) {
                if (s->k == 2) {
                        for (unsigned b = a + 1; b < s->m; b++) {
                                if (s->cap[s->order[a]] + s->cap[s->order[b]] < s->units)
                                        continue;
                                s->set[0] = s->order[a];
                                s->set[1] = s->order[b];
                                consider(p, need, s, fits);
                        }
                } else if (grow_set(p, s, s->order[a]))
                        consider(p, need, s, fits);
        }
        return s->found;
}

/* One node by best fit (the smallest capacity that holds it), near the devices first. */
static int one_node(Planner *p, const Need *need, unsigned units, const unsigned *cap, SetFits fits) {
        int best = -1;
        for (unsigned n = 0; n < p->t->n_nodes; n++) {
                unsigned take = units;
                if (cap[n] < units || !fits(p, need, &n, &take, 1, units))
                        continue;
                bool near = (int) n == need->prefer_node, best_near = best >= 0 && best == need->prefer_node;
                if (best < 0 || (near && !best_near) || (near == best_near && cap[n] < cap[best]))
                        best = (int) n;
        }
        return best;
}

unsigned search_nodes(Planner *p, const Need *need, unsigned units, const unsigned *cap, bool one_only, SetFits fits,
                      unsigned *ret_nodes) {
        memset(p->node_take, 0, p->t->n_nodes * sizeof(unsigned));
        int one = one_node(p, need, units, cap, fits);
        if (one >= 0) {
                unsigned take = units;
                (void) fits(p, need, (const unsigned *) &one, &take, 1, units); /* the take it wants */
                p->node_take[one] = take;
                ret_nodes[0] = (unsigned) one;
                return 1;
        }
        return one_only ? 0 : search_span(p, need, units, cap, fits, ret_nodes);
}

unsigned search_span(Planner *p, const Need *need, unsigned units, const unsigned *cap, SetFits fits,
                     unsigned *ret_nodes) {
        unsigned n_nodes = p->t->n_nodes;
        memset(p->node_take, 0, n_nodes * sizeof(unsigned));
        _cleanup_free_ unsigned *order = malloc(5 * n_nodes * sizeof(unsigned));
        _cleanup_free_ uint8_t *flags = malloc(2 * n_nodes);
        _cleanup_free_ uint64_t *added = malloc(n_nodes * sizeof(uint64_t));
        if (!order || !flags || !added)
                return 0;
        SetSearch s = { .cap = cap,
                        .order = order,
                        .units = units,
                        .in = flags,
                        .top = flags + n_nodes,
                        .added = added,
                        .set = order + n_nodes,
                        .take = order + 2 * n_nodes,
                        .best = order + 3 * n_nodes,
                        .best_take = order + 4 * n_nodes };
        s.m = by_capacity(p, cap, order);
        uint64_t top = 0;
        unsigned k = 0;
        while (k < s.m && top < units)
                top += cap[order[k++]];
        if (top < units)
                return 0;
        /* The fewest nodes that can hold it; a few more only when memory or a ratio rules every set out. */
        for (s.k = k < 2 ? 2 : k; s.k <= s.m && s.k < k + 4; s.k++) {
                if (!closest_set(p, need, &s, fits))
                        continue;
                for (unsigned i = 0; i < s.k; i++) {
                        ret_nodes[i] = s.best[i];
                        p->node_take[s.best[i]] = s.best_take[i];
                }
                return s.k;
        }
        return 0;
}
