remote fd18::1
mtu 1420
v4 addr 198.19.0.2 255.255.255.255
v4 in 0.0.0.0 0.0.0.0
dns [198.19.0.1] search [] match [""]
