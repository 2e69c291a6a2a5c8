/* Thin shim over libpcap (Debian: libpcap-dev). Swift imports pcap.h as is; this header only gives it
 * a module and a clear error when the package is missing. No logic, no allocation, no globals. */
#ifndef LOCKSTEP_PCAP_H
#define LOCKSTEP_PCAP_H

#if !__has_include(<pcap/pcap.h>)
#error "pcap/pcap.h not found: install the Debian package libpcap-dev (make deps does)"
#endif

#include <pcap/pcap.h>

#endif
