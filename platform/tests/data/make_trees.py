#!/usr/bin/env python3
"""Writes the sysfs trees the topology tests read. `linux-2vcpu` is captured from the
dev machine (`python3 make_trees.py capture`); the others are written from the layouts of
real machines, with only the files the parser reads."""
import os, shutil, sys

HERE = os.path.dirname(os.path.abspath(__file__))

def put(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text + "\n")

def cpulist(ids):
    ids = sorted(ids); out = []; i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1: j += 1
        out.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}"); i = j + 1
    return ",".join(out)

def tree(name, cpus, nodes=None, hybrid=None, capacity=None):
    """cpus: {id: (package, core_id, siblings, l3_sharers or None)}"""
    root = os.path.join(HERE, name)
    shutil.rmtree(root, ignore_errors=True)
    put(root, "system/cpu/online", cpulist(cpus))
    for cpu, (pkg, core, sibs, l3) in cpus.items():
        d = f"system/cpu/cpu{cpu}"
        put(root, f"{d}/topology/physical_package_id", str(pkg))
        put(root, f"{d}/topology/core_id", str(core))
        put(root, f"{d}/topology/thread_siblings_list", cpulist(sibs))
        put(root, f"{d}/cache/index0/level", "1")
        put(root, f"{d}/cache/index0/shared_cpu_list", cpulist(sibs))
        put(root, f"{d}/cache/index2/level", "2")
        put(root, f"{d}/cache/index2/shared_cpu_list", cpulist(sibs))
        if l3 is not None:
            put(root, f"{d}/cache/index3/level", "3")
            put(root, f"{d}/cache/index3/shared_cpu_list", cpulist(l3))
        if capacity:
            put(root, f"{d}/cpu_capacity", str(capacity[cpu]))
    for node, members in (nodes or {}).items():
        put(root, f"system/node/node{node}/cpulist", cpulist(members))
    if hybrid:
        put(root, "cpu_core/cpus", cpulist(hybrid[0]))
        put(root, "cpu_atom/cpus", cpulist(hybrid[1]))

def two_socket():
    # 2 sockets x 2 cores x 2 threads, Intel numbering: siblings are n and n+4.
    cpus = {}
    for cpu in range(8):
        core = cpu % 4
        pkg = core // 2
        sibs = [core, core + 4]
        l3 = [c for c in range(8) if (c % 4) // 2 == pkg]
        cpus[cpu] = (pkg, core % 2, sibs, l3)
    nodes = {0: [0, 1, 4, 5], 1: [2, 3, 6, 7]}
    tree("linux-2socket-smt", cpus, nodes)

def hybrid():
    # Alder Lake-P style: 4 P-cores with SMT (cpus 0-7), 8 E-cores (cpus 8-15), one L3.
    cpus = {}
    for cpu in range(16):
        if cpu < 8:
            sibs = [cpu - cpu % 2, cpu - cpu % 2 + 1]
            core_id = (cpu // 2) * 4
        else:
            sibs = [cpu]
            core_id = 16 + (cpu - 8)
        cpus[cpu] = (0, core_id, sibs, list(range(16)))
    tree("linux-hybrid", cpus, {0: list(range(16))}, hybrid=(range(8), range(8, 16)))

def big_little():
    # Arm big.LITTLE: 4 little (capacity 446) + 4 big (1024), no L3, no node directory.
    cpus = {cpu: (0, cpu % 4 if cpu < 4 else cpu, [cpu], None) for cpu in range(8)}
    tree("linux-big-little", cpus, capacity={c: 446 if c < 4 else 1024 for c in range(8)})

def capture():
    root = os.path.join(HERE, "linux-2vcpu")
    shutil.rmtree(root, ignore_errors=True)
    src = "/sys/devices"
    files = ["system/cpu/online"]
    for n in os.listdir(f"{src}/system/cpu"):
        if n.startswith("cpu") and n[3:].isdigit():
            for f in ["physical_package_id", "core_id", "thread_siblings_list"]:
                files.append(f"system/cpu/{n}/topology/{f}")
            for idx in os.listdir(f"{src}/system/cpu/{n}/cache"):
                if idx.startswith("index"):
                    files += [f"system/cpu/{n}/cache/{idx}/level", f"system/cpu/{n}/cache/{idx}/shared_cpu_list"]
    for n in os.listdir(f"{src}/system/node"):
        if n.startswith("node") and n[4:].isdigit():
            files.append(f"system/node/{n}/cpulist")
    for f in files:
        with open(f"{src}/{f}") as fh:
            put(root, f, fh.read().strip())

if __name__ == "__main__":
    if sys.argv[1:] == ["capture"]:
        capture()
    else:
        two_socket(); hybrid(); big_little()
