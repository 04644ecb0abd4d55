#include "credit.h"

void credit_init(struct credit *c)
{
    c->avail = 0;
}

void credit_grant(struct credit *c, uint32_t n)
{
    c->avail = c->avail > UINT64_MAX - n ? UINT64_MAX : c->avail + n;
}

uint32_t credit_quota(const struct credit *c, uint32_t max)
{
    return c->avail < max ? (uint32_t)c->avail : max;
}

void credit_take(struct credit *c, uint32_t n)
{
    c->avail = n > c->avail ? 0 : c->avail - n;
}
