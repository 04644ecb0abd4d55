/* The libdbus functions that libpcap's D-Bus capture calls, each refusing.
 *
 * Linked only with a static libpcap (see the Makefile): libpcap's shared
 * library pulls in libdbus, and libdbus libsystemd, libgcrypt and six
 * more, mapped and relocated at every start of the port (6.5 ms of CPU of
 * its 12-packet start here, 3.8 ms without them) and all present in a
 * process that starts as root. epcap has no use for the D-Bus
 * "interfaces": a capture of dbus-system or dbus-session fails at open,
 * with libpcap's own message around the one below, as it does anywhere
 * the bus is not running.
 *
 * These are libdbus's public, documented API, so they depend on no detail
 * of libpcap's: a libpcap that calls a function not stubbed here fails to
 * link, and the Makefile falls back to the shared libpcap. */
#include <dbus/dbus.h>

#include <stddef.h>

/* Present only in a port linked with these stubs: interfaces.c then
 * leaves out the D-Bus "devices", which could not be opened. */
const int epcap_without_dbus = 1;

static void refuse(DBusError *error)
{
    if (error != NULL) {
        error->name = DBUS_ERROR_NOT_SUPPORTED;
        error->message = "epcap's port program is built without D-Bus";
    }
}

DBusConnection *dbus_bus_get(DBusBusType type, DBusError *error)
{
    refuse(error);
    return NULL;
}

DBusConnection *dbus_connection_open(const char *address, DBusError *error)
{
    refuse(error);
    return NULL;
}

dbus_bool_t dbus_bus_register(DBusConnection *connection, DBusError *error)
{
    refuse(error);
    return FALSE;
}

void dbus_bus_add_match(DBusConnection *connection, const char *rule,
                        DBusError *error)
{
    refuse(error);
}

/* The message is a constant: nothing to free. */
void dbus_error_free(DBusError *error)
{
    if (error != NULL) {
        error->name = NULL;
        error->message = NULL;
    }
}

dbus_bool_t dbus_error_is_set(const DBusError *error)
{
    return error != NULL && error->name != NULL;
}

/* No connection or message ever exists: what follows is unreachable, and
 * answers as for an empty or failed one. */
void dbus_connection_unref(DBusConnection *connection)
{
}

void dbus_connection_flush(DBusConnection *connection)
{
}

void dbus_connection_set_max_received_size(DBusConnection *connection,
                                           long size)
{
}

dbus_bool_t dbus_connection_read_write(DBusConnection *connection,
                                       int timeout_milliseconds)
{
    return FALSE;
}

DBusMessage *dbus_connection_pop_message(DBusConnection *connection)
{
    return NULL;
}

dbus_bool_t dbus_connection_send(DBusConnection *connection,
                                 DBusMessage *message,
                                 dbus_uint32_t *client_serial)
{
    return FALSE;
}

void dbus_message_unref(DBusMessage *message)
{
}

dbus_bool_t dbus_message_is_signal(DBusMessage *message, const char *iface,
                                   const char *signal_name)
{
    return FALSE;
}

dbus_bool_t dbus_message_marshal(DBusMessage *msg, char **marshalled_data_p,
                                 int *len_p)
{
    return FALSE;
}

DBusMessage *dbus_message_demarshal(const char *str, int len, DBusError *error)
{
    refuse(error);
    return NULL;
}

void dbus_free(void *memory)
{
}
