/* Optional parts of sculpt built as loadable modules.
 *
 * The libvirt backend (driver/libvirt/ and the capabilities reader
 * driver/host_caps.c) is built as lib/sculpt/libvirt.so next to the
 * programs and loaded the first time it is needed -- compute_driver =
 * libvirt, or a host topology given as libvirt capabilities XML.  libvirt
 * and libxml2 and what they pull in (GLib, GnuTLS, ICU, libstdc++, ...)
 * are then mapped only into a process that uses them: about 8 MB of RSS a
 * sculpt-compute on the fake backend does not carry.
 *
 * Programs that link the module's objects in (the unit tests, harnesses)
 * find its symbols directly and never load the file.
 */
#ifndef SC_DRIVER_MODULE_H
#define SC_DRIVER_MODULE_H

struct err;

/* Where modules are looked for: $SCULPT_MODULE_DIR if set, else
 * <directory of the running program>/../lib/sculpt.  Returns a static
 * string. */
const char *drv_module_dir(void);

/* The address of `symbol` in module `name` (<dir>/<name>.so), loading the
 * module on first use (it stays loaded).  Returns NULL with *err
 * (UNAVAILABLE: the module cannot be loaded, with the loader's reason;
 * INTERNAL: it lacks the symbol).  Any thread. */
void *drv_module_sym(const char *name, const char *symbol, struct err **err);

#endif
