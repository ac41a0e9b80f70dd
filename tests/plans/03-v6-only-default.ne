remote fd18::1
mtu 1420
v4 addr 198.19.0.2 255.255.255.255
v4 in 198.19.9.0 255.255.255.0
v6 addr fd19::2 64
v6 in fd19:: 64
v6 in :: 0
v6 out fd18::1 128
