#ifndef DTSI_TRANSPORT_REGISTRY_H
#define DTSI_TRANSPORT_REGISTRY_H
#include <dts/transport.h>
// dtsi_transport_find returns the transport for a URL ("" or NULL: udpm),
// built-in or registered, or NULL when no transport serves its scheme.
const dts_transport_ops *dtsi_transport_find(const char *url);
// dtsi_transport_schemes lists the schemes served ("udpm://, mem://, ..."),
// for error messages.
void dtsi_transport_schemes(char *buf, size_t cap);
// dtsi_udpm_group writes the multicast group of a channel (0: control) as
// text ("239.255.12.34" or "ff15::4454:1234:5678"); docs/spec/wire.md.
void dtsi_udpm_group(uint64_t channel, int ipv6, char *buf, size_t cap);
// dtsi_udpm_group_v4 is a channel's IPv4 group, in host byte order.
uint32_t dtsi_udpm_group_v4(uint64_t channel);
#endif
