/* One version string for the port and the Erlang side (epcap.app.src). */
#define EPCAP_VERSION "1.0.0"
