/* Internals of openstack/amqp.c, exposed for the unit tests. */
#ifndef SC_OPENSTACK_AMQP_PRIV_H
#define SC_OPENSTACK_AMQP_PRIV_H

#include <stddef.h>

struct err;

struct os_amqp_server {
    char *host;
    int port;
    char *user;
    char *password;
};

struct os_amqp_url {
    struct os_amqp_server *servers; /* owned, at least one */
    size_t nservers;
    char *vhost;                    /* "/" when the URL gives none */
};

/* Parse oslo's transport_url: rabbit:// (or amqp://), one or more
 * comma-separated [user[:pass]@]host[:port] (IPv6 in brackets), an
 * optional /vhost and an ignored ?query.  Percent-escapes are decoded.
 * Defaults: guest/guest, port 5672, vhost "/".  Returns 0 or -1 with
 * *err (ERR_INVALID). */
int os_amqp_url_parse(const char *url, struct os_amqp_url *out, struct err **err);
void os_amqp_url_release(struct os_amqp_url *u);

#endif
