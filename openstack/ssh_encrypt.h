/* A guest's new admin password, encrypted for its owner: Zed's
 * nova.crypto.ssh_encrypt_text (RSA, PKCS #1 v1.5 padding) with the
 * instance's ssh-rsa public key, base64, split into the system_metadata
 * chunks nova-api's os-server-password reads back (nova.api.metadata.
 * password.convert_password).  `nova get-password SERVER KEY` decrypts it
 * with the private key. */
#ifndef SC_OPENSTACK_SSH_ENCRYPT_H
#define SC_OPENSTACK_SSH_ENCRYPT_H

#include <jansson.h>
#include <stdbool.h>

struct err;

#define OS_PASSWORD_CHUNKS 4
#define OS_PASSWORD_CHUNK_LEN 255

/* Whether key_data is an RSA key in OpenSSH's one-line form, the only kind
 * Zed encrypts a password with (others leave the password unsaved). */
bool os_ssh_key_is_rsa(const char *key_data);

/* `text` encrypted with the ssh-rsa public key `key_data` ("ssh-rsa BASE64
 * [comment]"), base64 without line breaks.  Returns text the caller frees,
 * or NULL with *err INVALID (the key does not parse, the text is too long
 * for the key).  Any thread. */
char *os_ssh_encrypt_b64(const char *key_data, const char *text, struct err **err);

/* Put `b64` in a copy of `sysmeta` as password_0 .. password_3, 255
 * characters each (the tail ones empty), as convert_password.  Returns the
 * new object (caller owns it), or NULL with *err INVALID when b64 is longer
 * than the four chunks hold. */
json_t *os_password_sysmeta(const json_t *sysmeta, const char *b64, struct err **err);

#endif
