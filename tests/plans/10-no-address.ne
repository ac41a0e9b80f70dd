remote 198.18.0.1
mtu 1420
