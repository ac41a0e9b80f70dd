remote 198.18.0.1
mtu 1380
v4 addr 198.19.0.2 255.255.255.0
v4 in 198.19.0.0 255.255.255.0
v4 in 0.0.0.0 0.0.0.0
v4 out 198.18.0.1 255.255.255.255
v6 addr fd19::2 64
v6 in fd19:: 64
v6 in :: 0
dns [198.19.0.1, fd19::1] search ["corp.example", "lan"] match [""]
