// Two tunnels in host packet I/O mode over 127.0.0.1 through the P/Invoke wrapper:
// packets both ways, config change, stats, callbacks from library threads, exceptions
// in callbacks, dispose under traffic. Run by bindings/run-tests.sh (mcs + mono).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using Ferrowg;

static class FerrowgTests
{
    static int passed, failed;
    const int DeadlineMs = 30000;
    const int Window = 32;

    static void Check(bool cond, string what)
    {
        if (cond) { passed++; return; }
        failed++;
        Console.Error.WriteLine("FAIL: " + what);
    }

    static void Throws(ErrorCode code, Action a, string what)
    {
        try { a(); Check(false, what + ": no exception"); }
        catch (FerrowgException e) { Check(e.Code == code, what + ": got " + e.Code + " " + e.Message); }
    }

    static byte[] Ipv4(int src, int dst, int len, int seq)
    {
        var p = new byte[len];
        p[0] = 0x45; p[2] = (byte)(len >> 8); p[3] = (byte)len; p[8] = 64; p[9] = 17;
        p[12] = 198; p[13] = 19; p[15] = (byte)src;
        p[16] = 198; p[17] = 19; p[19] = (byte)dst;
        uint sum = 0;
        for (int i = 0; i < 20; i += 2) sum += (uint)(p[i] << 8 | p[i + 1]);
        while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
        p[10] = (byte)(~sum >> 8); p[11] = (byte)~sum;
        BitConverter.GetBytes(seq).CopyTo(p, 20);
        for (int i = 28; i < len; i++) p[i] = (byte)(seq * 7 + i);
        return p;
    }

    static byte[] Pull(Tunnel t)
    {
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < DeadlineMs)
        {
            var p = t.ReadPacket(200);
            if (p != null) return p;
        }
        return null;
    }

    static int Exchange(Tunnel from, Tunnel to, int src, int dst, int count)
    {
        int ok = 0;
        for (int b = 0; b < count; b += Window)
        {
            var sent = new List<byte[]>();
            for (int i = b; i < Math.Min(count, b + Window); i++)
            {
                var p = Ipv4(src, dst, 60 + (i * 37) % 1360, i);
                from.WritePacket(p, 5000);
                sent.Add(p);
            }
            foreach (var p in sent)
            {
                var got = Pull(to);
                if (got != null && got.SequenceEqual(p)) ok++;
            }
        }
        return ok;
    }

    static int Main()
    {
        int mainThread = Thread.CurrentThread.ManagedThreadId;
        Check(Library.Version.Contains("."), "version");
        int logLines = 0;
        Library.SetLogger((level, msg) => Interlocked.Increment(ref logLines), LogLevel.Debug);

        string aPriv = Convert.ToBase64String(Enumerable.Repeat((byte)1, 32).ToArray());
        string bPriv = Convert.ToBase64String(Enumerable.Repeat((byte)2, 32).ToArray());
        string aPub = Library.PublicKey(aPriv), bPub = Library.PublicKey(bPriv);
        // a sends through the queued TX path and the locked ring, with receive CoDel, a
        // scheduler slice and real-time priority 1 (the options reach it; without the
        // privilege the priority is logged and ignored).
        var a = Tunnel.StartHost("[Interface]\nPrivateKey = " + aPriv + "\n",
            new TunnelOptions { BindAddress = "127.0.0.1", TxQueue = TxQueue.Queued, Ring = Ring.Locked,
                                RxCodel = RxCodel.On, RxCodelIntervalUs = 20000, SchedSliceUs = 400,
                                RtPriority = 1 });
        var eff = a.Options;
        Check(eff.TxQueue == TxQueue.Queued && eff.Ring == Ring.Locked && eff.CodelTargetUs == 5000 &&
              eff.CodelIntervalUs == 100000, "options in effect: " + eff.TxQueue + " " + eff.Ring);
        Check(eff.RxCodel == RxCodel.On && eff.RxCodelTargetUs == 1000 && eff.RxCodelIntervalUs == 20000 &&
              eff.SchedSliceUs == 400, "receive CoDel and slice in effect: " + eff.RxCodel + " " +
              eff.RxCodelTargetUs + " " + eff.RxCodelIntervalUs + " " + eff.SchedSliceUs);
        Check(eff.RtPriority == 1 && !eff.RtPriorityWhenSaturated,
              "priority in effect: " + eff.RtPriority + " " + eff.RtPriorityWhenSaturated);
        using (var sat = Tunnel.StartHost("[Interface]\nPrivateKey = " + aPriv + "\n",
            new TunnelOptions { BindAddress = "127.0.0.1", RtPriority = 2, RtPriorityWhenSaturated = true }))
        {
            var s = sat.Options;
            Check(s.RtPriority == 2 && s.RtPriorityWhenSaturated && s.SchedSliceUs == 0,
                  "priority when saturated in effect: " + s.RtPriority + " " + s.RtPriorityWhenSaturated);
        }
        Throws(ErrorCode.InvalidArgument, () => Tunnel.StartHost("[Interface]\n",
            new TunnelOptions { BindAddress = "127.0.0.1", RtPriority = 100 }), "real-time priority above 99");
        Throws(ErrorCode.InvalidArgument, () => Tunnel.StartHost("[Interface]\n",
            new TunnelOptions { BindAddress = "127.0.0.1", RtPriorityWhenSaturated = true }),
            "real-time priority when saturated without a priority");
        Throws(ErrorCode.InvalidArgument, () => Tunnel.StartHost("[Interface]\n",
            new TunnelOptions { BindAddress = "127.0.0.1", RxCodel = RxCodel.Off, RxCodelTargetUs = 500 }),
            "receive CoDel values with it off");
        Throws(ErrorCode.InvalidArgument, () => Tunnel.StartHost("[Interface]\n",
            new TunnelOptions { BindAddress = "127.0.0.1", TxQueue = TxQueue.Codel, CodelTargetUs = 200000 }),
            "CoDel target longer than its interval");
        var b = Tunnel.StartHost("[Interface]\nPrivateKey = " + bPriv + "\n", "127.0.0.1");
        a.SetConfig("[Peer]\nPublicKey = " + bPub + "\nAllowedIPs = 198.19.0.2/32\nEndpoint = 127.0.0.1:" + b.ListenPort + "\n", false);
        b.SetConfig("[Peer]\nPublicKey = " + aPub + "\nAllowedIPs = 198.19.0.1/32\n", false);

        var handshakeThreads = new List<int>();
        a.SetEventHandler(ev =>
        {
            if (ev.Kind == EventKind.HandshakeComplete && ev.Peer == bPub)
                lock (handshakeThreads) handshakeThreads.Add(Thread.CurrentThread.ManagedThreadId);
        });

        Check(Exchange(a, b, 1, 2, 1) == 1, "first packet (handshake)");
        Check(Exchange(a, b, 1, 2, 320) == 320, "a->b pulled intact and in order");
        lock (handshakeThreads)
            Check(handshakeThreads.Count >= 1 && handshakeThreads.All(id => id != mainThread), "handshake event from a library thread");

        // b->a through a packet handler, called on a library thread.
        var received = new List<byte[]>();
        int handlerThread = -1;
        a.SetPacketHandler(p =>
        {
            lock (received) { received.Add(p); handlerThread = Thread.CurrentThread.ManagedThreadId; }
        });
        for (int w = 0; w < 160; w += Window)
        {
            for (int i = w; i < w + Window; i++) b.WritePacket(Ipv4(2, 1, 60 + (i * 37) % 1360, i), 5000);
            var sw = Stopwatch.StartNew();
            while (sw.ElapsedMilliseconds < DeadlineMs) { lock (received) if (received.Count >= w + Window) break; Thread.Sleep(2); }
        }
        a.SetPacketHandler(null);
        lock (received)
        {
            bool inOrder = received.Count == 160;
            for (int i = 0; inOrder && i < 160; i++) inOrder = received[i].SequenceEqual(Ipv4(2, 1, 60 + (i * 37) % 1360, i));
            Check(inOrder, "b->a via handler: " + received.Count);
            Check(handlerThread != mainThread && handlerThread != -1, "handler on a library thread");
        }

        // Stats.
        var stats = a.PeerStats();
        Check(stats.Length == 1 && stats[0].PublicKey == bPub, "stats peer");
        Check(stats[0].TxPackets >= 321 && stats[0].RxPackets >= 160 && stats[0].Handshakes >= 1, "stats counters");
        Check(stats[0].LastHandshakeUnixMs > 1600000000000L, "last handshake");
        Check(a.GetConfig().Contains("allowed_ip=198.19.0.2/32"), "get config");

        // Suspend (sockets closed, port kept, timers stopped) and resume: traffic both ways.
        ushort portBefore = a.ListenPort;
        a.Suspend();
        a.Suspend();
        Check(a.ListenPort == portBefore, "suspended port kept");
        a.Resume();
        Check(a.ListenPort == portBefore, "resumed on the same port");
        Check(Exchange(a, b, 1, 2, 5) == 5, "a->b after suspend/resume");
        Check(Exchange(b, a, 2, 1, 5) == 5, "b->a after suspend/resume");

        // Config change: .3 routed to b only after it.
        a.WritePacket(Ipv4(1, 3, 100, 9), 5000);
        Check(Exchange(a, b, 1, 2, 1) == 1, "marker after the unroutable packet");
        a.SetConfig("public_key=" + BitConverter.ToString(Convert.FromBase64String(bPub)).Replace("-", "").ToLowerInvariant() +
                    "\nallowed_ip=198.19.0.3/32\n", false);
        Check(Exchange(a, b, 1, 3, 5) == 5, "routed after the change");

        // Errors.
        Throws(ErrorCode.Config, () => a.SetConfig("[Interface]\nListenPort = 99999\n", true), "bad config");
        try { a.SetConfig("[Interface]\nListenPort = 99999\n", true); }
        catch (FerrowgException e) { Check(e.Message.Contains("line 2"), "message names the line: " + e.Message); }
        Check(Native.ferrowg_tunnel_set_config(0, new byte[] { 0x41, 0 }, false) == (int)ErrorCode.InvalidHandle, "handle 0");
        int rc = 0;
        {
            // Raw call with invalid UTF-8 on a live handle.
            var probe = Tunnel.StartHost("[Interface]\n", "127.0.0.1");
            var field = typeof(Tunnel).GetField("handle", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);
            var h = (TunnelHandle)field.GetValue(probe);
            rc = Native.ferrowg_tunnel_set_config(h.Value, new byte[] { 0xff, 0xfe, 0 }, false);
            Check(rc == (int)ErrorCode.InvalidUtf8, "invalid UTF-8: " + rc);
            probe.Dispose();
        }
        Throws(ErrorCode.InvalidArgument, () => Tunnel.StartHost("", "not-an-ip"), "bad bind address");

        // An exception in a handler stays in the wrapper; the tunnel goes on.
        long before = Library.CallbackFailures;
        int thrown = 0;
        b.SetPacketHandler(p => { Interlocked.Increment(ref thrown); throw new InvalidOperationException("handler threw"); });
        a.WritePacket(Ipv4(1, 2, 80, 1), 5000);
        var sw2 = Stopwatch.StartNew();
        while (Volatile.Read(ref thrown) == 0 && sw2.ElapsedMilliseconds < DeadlineMs) Thread.Sleep(2);
        b.SetPacketHandler(null);
        Check(Library.CallbackFailures > before, "handler exception contained");
        Check(Exchange(a, b, 1, 2, 3) == 3, "traffic after the exception");

        // Stop, use after stop, double stop.
        b.Stop();
        b.Stop();
        Throws(ErrorCode.Stopped, () => { var _ = b.ListenPort; }, "use after stop");
        b.Dispose();
        try { var _ = b.ListenPort; Check(false, "use after dispose"); }
        catch (ObjectDisposedException) { Check(true, "use after dispose"); }
        b.Dispose();

        // Dispose under traffic: writers and a reader on other threads.
        var c = Tunnel.StartHost("[Interface]\nPrivateKey = " + bPriv + "\n[Peer]\nPublicKey = " + aPub + "\nAllowedIPs = 198.19.0.1/32\n", "127.0.0.1");
        a.SetConfig("public_key=" + BitConverter.ToString(Convert.FromBase64String(bPub)).Replace("-", "").ToLowerInvariant() +
                    "\nendpoint=127.0.0.1:" + c.ListenPort + "\n", false);
        int cGot = 0, errors = 0, unexpected = 0;
        c.SetPacketHandler(p => Interlocked.Increment(ref cGot));
        var workers = new List<Thread>();
        var stopAt = Stopwatch.StartNew();
        foreach (var t in new[] { a, c })
        {
            var tunnel = t;
            var th = new Thread(() =>
            {
                int seq = 0;
                while (stopAt.ElapsedMilliseconds < DeadlineMs)
                {
                    try { tunnel.WritePacket(Ipv4(tunnel == a ? 1 : 2, tunnel == a ? 2 : 1, 200, seq++), 100); }
                    catch (ObjectDisposedException) { Interlocked.Increment(ref errors); return; }
                    catch (FerrowgException e)
                    {
                        if (e.Code != ErrorCode.Stopped && e.Code != ErrorCode.InvalidHandle && e.Code != ErrorCode.Timeout)
                            Interlocked.Increment(ref unexpected);
                        if (e.Code != ErrorCode.Timeout) { Interlocked.Increment(ref errors); return; }
                    }
                }
            });
            th.Start();
            workers.Add(th);
        }
        var sw3 = Stopwatch.StartNew();
        while (Volatile.Read(ref cGot) < 50 && sw3.ElapsedMilliseconds < DeadlineMs) Thread.Sleep(2);
        Check(Volatile.Read(ref cGot) >= 50, "traffic before dispose: " + cGot);
        c.Dispose();
        a.Dispose();
        foreach (var th in workers) th.Join();
        Check(errors == 2 && unexpected == 0, "writers stopped cleanly by dispose: " + errors + "/" + unexpected);

        // The network plan: argument and config errors, and an adapter that does not exist
        // (nothing is changed on this host: the applier fails at the interface lookup).
        const string planConf = "[Interface]\nPrivateKey = YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
            + "Address = 198.19.0.1/24\n[Peer]\nPublicKey = ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=\n"
            + "AllowedIPs = 198.19.0.0/24\n";
        Throws(ErrorCode.InvalidArgument, () => NetworkSetup.Apply("", planConf), "network: empty interface");
        Throws(ErrorCode.NullArgument, () => NetworkSetup.Apply(null, planConf), "network: null interface");
        Throws(ErrorCode.Config, () => NetworkSetup.Apply("fwgcs0", "[Interface]\nBogus = 1\n"), "network: bad config");
        Throws(ErrorCode.Network, () => NetworkSetup.Apply("fwgcsnone" + Process.GetCurrentProcess().Id % 10000, planConf),
            "network: missing adapter");

        Check(Volatile.Read(ref logLines) > 0, "log lines");
        Library.SetLogger(null, LogLevel.Error);
        Console.WriteLine(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }
}
