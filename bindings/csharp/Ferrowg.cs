// Hand-written P/Invoke wrapper over ffi/include/ferrowg.h. Compiles with mono's mcs
// (C# 7) and with current .NET. Tunnels are SafeHandles; callbacks are delegates kept
// alive while registered; strings cross as UTF-8; error codes become FerrowgException.
using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace Ferrowg
{
    /// <summary>The stable C error codes (ferrowg.h FERROWG_*).</summary>
    public enum ErrorCode
    {
        Ok = 0,
        NullArgument = -1,
        InvalidHandle = -2,
        InvalidUtf8 = -3,
        Config = -4,
        InvalidArgument = -5,
        Bind = -6,
        Nic = -7,
        Unsupported = -8,
        Stopped = -9,
        Reentrant = -10,
        Internal = -11,
        BufferTooSmall = -12,
        Timeout = -13,
        Firewall = -14,
        Network = -15,
    }

    /// <summary>Log severity (ferrowg.h: 1 error ... 5 trace).</summary>
    public enum LogLevel { Error = 1, Warn = 2, Info = 3, Debug = 4, Trace = 5 }

    /// <summary>Event kinds (ferrowg.h FERROWG_EVENT_*).</summary>
    public enum EventKind { HandshakeComplete = 1, SessionExpired = 2, EndpointChanged = 3, PeerUnreachable = 4, Error = 5 }

    /// <summary>The TX path (ferrowg.h FERROWG_TX_QUEUE_*); Default: the engine's.</summary>
    public enum TxQueue { Default = 0, Direct = 1, Queued = 2, Codel = 3 }

    /// <summary>The TX-to-workers ring (ferrowg.h FERROWG_RING_*); Default: the engine's.</summary>
    public enum Ring { Default = 0, LockFree = 1, Locked = 2 }

    /// <summary>Receive-side CoDel (ferrowg.h FERROWG_RX_CODEL_*); Default: the engine's (off),
    /// or on if RxCodelTargetUs or RxCodelIntervalUs is set.</summary>
    public enum RxCodel { Default = 0, Off = 1, On = 2 }

    /// <summary>Engine options for a tunnel start; unset (zero) fields keep the defaults.</summary>
    public sealed class TunnelOptions
    {
        /// <summary>Limit the UDP socket to this local address (host packet I/O); null: all.</summary>
        public string BindAddress;
        public TxQueue TxQueue;
        /// <summary>CoDel's target and interval in microseconds; 0: 5000 and 100000.</summary>
        public uint CodelTargetUs, CodelIntervalUs;
        public Ring Ring;
        /// <summary>CoDel on the receive side (by how long datagrams waited in the socket buffer).</summary>
        public RxCodel RxCodel;
        /// <summary>Receive CoDel's target and interval in microseconds; 0: 1000 and 10000.</summary>
        public uint RxCodelTargetUs, RxCodelIntervalUs;
        /// <summary>A scheduler slice in microseconds for the engine's threads; 0: none.</summary>
        public uint SchedSliceUs;
        /// <summary>A real-time priority (1-99) for the engine's packet threads (Linux SCHED_FIFO, needs
        /// CAP_SYS_NICE or RLIMIT_RTPRIO, else logged and ignored; Windows THREAD_PRIORITY_HIGHEST);
        /// 0: none. Above 99: refused.</summary>
        public uint RtPriority;
        /// <summary>With RtPriority: raise the packet threads only while the tunnel is saturated.</summary>
        public bool RtPriorityWhenSaturated;
    }

    /// <summary>A failed ferrowg call: the code and the library's message.</summary>
    public class FerrowgException : Exception
    {
        public ErrorCode Code { get; private set; }

        public FerrowgException(ErrorCode code, string message) : base(message)
        {
            Code = code;
        }
    }

    /// <summary>A tunnel event.</summary>
    public sealed class TunnelEvent
    {
        public EventKind Kind;
        /// <summary>The peer's base64 public key, or null.</summary>
        public string Peer;
        /// <summary>The new endpoint (EndpointChanged), or null.</summary>
        public string Endpoint;
        /// <summary>What failed (Error), or null.</summary>
        public string Message;
    }

    /// <summary>One peer's counters.</summary>
    public sealed class PeerStats
    {
        public string PublicKey;
        /// <summary>Milliseconds since the Unix epoch, or -1 if never.</summary>
        public long LastHandshakeUnixMs;
        public ulong RxBytes, TxBytes, RxPackets, TxPackets, Handshakes, DroppedPackets;
    }

    /// <summary>The raw exports. Prefer <see cref="Tunnel"/>.</summary>
    public static class Native
    {
        const string Lib = "ferrowg";

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void LogFn(IntPtr ctx, int level, IntPtr message);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void EventFn(IntPtr ctx, IntPtr ev);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void PacketFn(IntPtr ctx, IntPtr packets, IntPtr lengths, UIntPtr count);

        [StructLayout(LayoutKind.Sequential)]
        public struct Event { public int Kind; public IntPtr Peer; public IntPtr Endpoint; public IntPtr Message; }

        [StructLayout(LayoutKind.Sequential)]
        public struct PeerStatsRaw
        {
            [MarshalAs(UnmanagedType.ByValArray, SizeConst = 32)] public byte[] PublicKey;
            public long LastHandshakeUnixMs;
            public ulong RxBytes, TxBytes, RxPackets, TxPackets, Handshakes, DroppedPackets;
        }

        /// <summary>FerrowgTunnelOptions; StructSize = Marshal.SizeOf(typeof(TunnelOptionsRaw)).</summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct TunnelOptionsRaw
        {
            public uint StructSize;
            public int Nic;
            public IntPtr AdapterName;
            public int Fd;
            public IntPtr BindAddress;
            public IntPtr Protect;
            public IntPtr ProtectCtx;
            public int TxQueue;
            public uint CodelTargetUs, CodelIntervalUs;
            public int Ring;
            public int RxCodel;
            public uint RxCodelTargetUs, RxCodelIntervalUs;
            public uint SchedSliceUs;
            public uint RtPriority, RtPriorityWhenSaturated;
        }

        public const int NicHostPackets = 0, NicAdapter = 1;

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern IntPtr ferrowg_version();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_last_error_code();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern IntPtr ferrowg_last_error_message();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern void ferrowg_string_free(IntPtr s);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_public_key(byte[] privateKey, out IntPtr outKey);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_set_logger(LogFn callback, IntPtr ctx, int maxLevel);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_start_host(byte[] config, byte[] bindAddress, out ulong handle);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_start_adapter(byte[] config, byte[] name, out ulong handle);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_start_opts(byte[] config, ref TunnelOptionsRaw options, out ulong handle);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_get_options(ulong tunnel, ref TunnelOptionsRaw options);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_stop(ulong tunnel);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_free(ulong tunnel);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_set_config(ulong tunnel, byte[] config, [MarshalAs(UnmanagedType.I1)] bool replace);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_get_config(ulong tunnel, out IntPtr text);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_peer_stats(ulong tunnel, IntPtr outStats, UIntPtr capacity, out UIntPtr count);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_listen_port(ulong tunnel, out ushort port);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_network_changed(ulong tunnel);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_set_bound_interface(ulong tunnel, uint index);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_suspend(ulong tunnel);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_resume(ulong tunnel);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_kill_switch_enable(byte[] iface, byte[] config, [MarshalAs(UnmanagedType.I1)] bool allowLan);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_kill_switch_disable(byte[] iface, [MarshalAs(UnmanagedType.I1)] out bool wasOn);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_kill_switch_status(byte[] iface, [MarshalAs(UnmanagedType.I1)] out bool on);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_network_apply(byte[] iface, byte[] config, out ulong handle);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_network_fwmark(ulong network, out uint mark);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_network_undo(ulong network);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_network_free(ulong network);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_set_event_callback(ulong tunnel, EventFn callback, IntPtr ctx);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_set_packet_callback(ulong tunnel, PacketFn callback, IntPtr ctx);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_write_packet(ulong tunnel, byte[] packet, UIntPtr length, uint timeoutMs);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] public static extern int ferrowg_tunnel_read_packet(ulong tunnel, byte[] buffer, UIntPtr capacity, out UIntPtr length, uint timeoutMs);

        /// <summary>NUL-terminated UTF-8 bytes of s (null stays null).</summary>
        public static byte[] Utf8(string s)
        {
            if (s == null) return null;
            var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
            return bytes;
        }

        /// <summary>A NUL-terminated UTF-8 string owned by the library (not freed here).</summary>
        public static string FromUtf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int len = 0;
            while (Marshal.ReadByte(p, len) != 0) len++;
            var bytes = new byte[len];
            Marshal.Copy(p, bytes, 0, len);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>Throws the matching FerrowgException unless rc is FERROWG_OK.</summary>
        public static void Check(int rc)
        {
            if (rc != 0) throw new FerrowgException((ErrorCode)rc, FromUtf8(ferrowg_last_error_message()));
        }

        /// <summary>Takes a library-allocated string and frees it.</summary>
        public static string TakeString(IntPtr p)
        {
            try { return FromUtf8(p); }
            finally { ferrowg_string_free(p); }
        }
    }

    /// <summary>Library-wide calls.</summary>
    /// <summary>The kill switch: persistent WFP filters (Windows) that block everything
    /// outside the tunnel and outlive this process; only Disable removes them.</summary>
    public static class KillSwitch
    {
        /// <summary>Block everything but the adapter `iface`, the endpoints of the wg-quick
        /// text `config`, loopback, DHCP/NDP and, if allowLan, the local networks.</summary>
        public static void Enable(string iface, string config, bool allowLan)
        {
            Native.Check(Native.ferrowg_kill_switch_enable(Native.Utf8(iface), Native.Utf8(config), allowLan));
        }

        /// <summary>Remove it; false if none was installed.</summary>
        public static bool Disable(string iface)
        {
            bool was;
            Native.Check(Native.ferrowg_kill_switch_disable(Native.Utf8(iface), out was));
            return was;
        }

        /// <summary>Whether it is installed (also after a crash).</summary>
        public static bool Status(string iface)
        {
            bool on;
            Native.Check(Native.ferrowg_kill_switch_status(Native.Utf8(iface), out on));
            return on;
        }
    }

    /// <summary>Owns one network setup handle; releasing it undoes what is still applied.</summary>
    public sealed class NetworkSetupHandle : SafeHandle
    {
        public NetworkSetupHandle(ulong handle) : base(IntPtr.Zero, true)
        {
            SetHandle(new IntPtr((long)handle));
        }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        public ulong Value { get { return (ulong)handle.ToInt64(); } }

        protected override bool ReleaseHandle()
        {
            return Native.ferrowg_network_free((ulong)handle.ToInt64()) == 0;
        }
    }

    /// <summary>The network plan of a wg-quick file (addresses, MTU, routes, DNS; on Linux
    /// also policy rules and the full-tunnel firewall) applied to a tunnel adapter by the
    /// library: IP Helper on Windows, netlink/nft/resolvconf on Linux. Dispose (or Undo)
    /// reverts exactly those changes; so does the finalizer if neither ran.</summary>
    public sealed class NetworkSetup : IDisposable
    {
        readonly NetworkSetupHandle handle;

        NetworkSetup(ulong h) { handle = new NetworkSetupHandle(h); }

        /// <summary>Applies the plan of the wg-quick text `config` to the existing adapter
        /// `iface`: its name (e.g. the one given to Tunnel.StartAdapter) or, on Windows, its
        /// interface index in decimal. Hostname endpoints are resolved now. On an error
        /// (FerrowgException: Config, Network, Unsupported on Apple systems) nothing is left
        /// applied. Needs administrator rights.</summary>
        public static NetworkSetup Apply(string iface, string config)
        {
            ulong h;
            Native.Check(Native.ferrowg_network_apply(Native.Utf8(iface), Native.Utf8(config), out h));
            return new NetworkSetup(h);
        }

        /// <summary>The mark the tunnel's UDP sockets must carry (Linux full tunnel: set it
        /// with tunnel.SetConfig("fwmark=N\n", false)); 0 when none is needed.</summary>
        public uint Fwmark
        {
            get
            {
                uint mark = 0;
                Run(h => Native.ferrowg_network_fwmark(h, out mark));
                return mark;
            }
        }

        /// <summary>Reverts the changes, newest first. Idempotent; throws
        /// FerrowgException(Network) naming what could not be undone.</summary>
        public void Undo() { Run(h => Native.ferrowg_network_undo(h)); }

        void Run(Func<ulong, int> call)
        {
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                Native.Check(call(handle.Value));
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
        }

        /// <summary>Undoes what is still applied and releases the handle.</summary>
        public void Dispose()
        {
            handle.Dispose();
        }
    }

    public static class Library
    {
#pragma warning disable 414 // only held to keep the delegate alive while registered
        static Native.LogFn logFn;
#pragma warning restore 414
        static long callbackFailures;

        public static string Version { get { return Native.FromUtf8(Native.ferrowg_version()); } }

        /// <summary>Exceptions thrown by app callbacks (caught, never passed to native code).</summary>
        public static long CallbackFailures { get { return Interlocked.Read(ref callbackFailures); } }

        internal static void CallbackFailed() { Interlocked.Increment(ref callbackFailures); }

        /// <summary>The base64 public key of a base64 private key.</summary>
        public static string PublicKey(string privateKey)
        {
            IntPtr p;
            Native.Check(Native.ferrowg_public_key(Native.Utf8(privateKey), out p));
            return Native.TakeString(p);
        }

        /// <summary>Installs (null: removes) the log handler, called from library threads.
        /// After this returns the previous handler is never called again.</summary>
        public static void SetLogger(Action<LogLevel, string> handler, LogLevel maxLevel)
        {
            Native.LogFn fn = null;
            if (handler != null)
            {
                fn = (ctx, level, message) =>
                {
                    try { handler((LogLevel)level, Native.FromUtf8(message)); }
                    catch (Exception) { CallbackFailed(); }
                };
            }
            lock (typeof(Library))
            {
                Native.Check(Native.ferrowg_set_logger(fn, IntPtr.Zero, (int)maxLevel));
                logFn = fn;
            }
        }
    }

    /// <summary>Owns one tunnel handle; releasing it stops and frees the tunnel.</summary>
    public sealed class TunnelHandle : SafeHandle
    {
        public TunnelHandle(ulong handle) : base(IntPtr.Zero, true)
        {
            SetHandle(new IntPtr((long)handle));
        }

        // The registered callbacks live on the handle so they stay reachable until
        // ReleaseHandle's ferrowg_tunnel_free has returned, even when finalized.
        internal Native.EventFn EventFn;
        internal Native.PacketFn PacketFn;

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        public ulong Value { get { return (ulong)handle.ToInt64(); } }

        protected override bool ReleaseHandle()
        {
            return Native.ferrowg_tunnel_free((ulong)handle.ToInt64()) == 0;
        }
    }

    /// <summary>A running tunnel. Dispose stops it (also safe under traffic).</summary>
    public sealed class Tunnel : IDisposable
    {
        readonly TunnelHandle handle;
        readonly object callbackLock = new object();

        Tunnel(ulong h) { handle = new TunnelHandle(h); }

        /// <summary>Host packet I/O mode: the app writes and reads IP packets. bindAddress
        /// null listens on all interfaces.</summary>
        public static Tunnel StartHost(string config, string bindAddress)
        {
            ulong h;
            Native.Check(Native.ferrowg_tunnel_start_host(Native.Utf8(config), Native.Utf8(bindAddress), out h));
            return new Tunnel(h);
        }

        /// <summary>Creates the OS adapter (wintun on Windows; needs the service's rights).</summary>
        public static Tunnel StartAdapter(string config, string name)
        {
            ulong h;
            Native.Check(Native.ferrowg_tunnel_start_adapter(Native.Utf8(config), Native.Utf8(name), out h));
            return new Tunnel(h);
        }

        /// <summary>Host packet I/O mode with engine options (TX path, CoDel, ring).</summary>
        public static Tunnel StartHost(string config, TunnelOptions options)
        {
            return StartWith(config, Native.NicHostPackets, null, options);
        }

        /// <summary>Creates the OS adapter, with engine options (TX path, CoDel, ring).</summary>
        public static Tunnel StartAdapter(string config, string name, TunnelOptions options)
        {
            return StartWith(config, Native.NicAdapter, name, options);
        }

        static Tunnel StartWith(string config, int nic, string name, TunnelOptions options)
        {
            var raw = new Native.TunnelOptionsRaw
            {
                StructSize = (uint)Marshal.SizeOf(typeof(Native.TunnelOptionsRaw)),
                Nic = nic,
                TxQueue = (int)options.TxQueue,
                CodelTargetUs = options.CodelTargetUs,
                CodelIntervalUs = options.CodelIntervalUs,
                Ring = (int)options.Ring,
                RxCodel = (int)options.RxCodel,
                RxCodelTargetUs = options.RxCodelTargetUs,
                RxCodelIntervalUs = options.RxCodelIntervalUs,
                SchedSliceUs = options.SchedSliceUs,
                RtPriority = options.RtPriority,
                RtPriorityWhenSaturated = options.RtPriorityWhenSaturated ? 1u : 0u,
            };
            var handles = new GCHandle[2];
            try
            {
                var nameBytes = Native.Utf8(name);
                var bindBytes = Native.Utf8(options.BindAddress);
                if (nameBytes != null)
                {
                    handles[0] = GCHandle.Alloc(nameBytes, GCHandleType.Pinned);
                    raw.AdapterName = handles[0].AddrOfPinnedObject();
                }
                if (bindBytes != null)
                {
                    handles[1] = GCHandle.Alloc(bindBytes, GCHandleType.Pinned);
                    raw.BindAddress = handles[1].AddrOfPinnedObject();
                }
                ulong h;
                Native.Check(Native.ferrowg_tunnel_start_opts(Native.Utf8(config), ref raw, out h));
                return new Tunnel(h);
            }
            finally
            {
                foreach (var gh in handles) if (gh.IsAllocated) gh.Free();
            }
        }

        /// <summary>The engine options in effect (every field set; BindAddress null).</summary>
        public TunnelOptions Options
        {
            get
            {
                var raw = new Native.TunnelOptionsRaw { StructSize = (uint)Marshal.SizeOf(typeof(Native.TunnelOptionsRaw)) };
                Run(t => Native.ferrowg_tunnel_get_options(t, ref raw));
                return new TunnelOptions
                {
                    TxQueue = (TxQueue)raw.TxQueue,
                    CodelTargetUs = raw.CodelTargetUs,
                    CodelIntervalUs = raw.CodelIntervalUs,
                    Ring = (Ring)raw.Ring,
                    RxCodel = (RxCodel)raw.RxCodel,
                    RxCodelTargetUs = raw.RxCodelTargetUs,
                    RxCodelIntervalUs = raw.RxCodelIntervalUs,
                    SchedSliceUs = raw.SchedSliceUs,
                    RtPriority = raw.RtPriority,
                    RtPriorityWhenSaturated = raw.RtPriorityWhenSaturated != 0,
                };
            }
        }

        int Call(Func<ulong, int> f)
        {
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added); // throws ObjectDisposedException after Dispose
                return f(handle.Value);
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
        }

        void Run(Func<ulong, int> f) { Native.Check(Call(f)); }

        /// <summary>Changes the configuration; replace: whole new config, else incremental.</summary>
        public void SetConfig(string config, bool replace)
        {
            var bytes = Native.Utf8(config);
            Run(h => Native.ferrowg_tunnel_set_config(h, bytes, replace));
        }

        /// <summary>The configuration and counters as UAPI text.</summary>
        public string GetConfig()
        {
            IntPtr p = IntPtr.Zero;
            Run(h => Native.ferrowg_tunnel_get_config(h, out p));
            return Native.TakeString(p);
        }

        public ushort ListenPort
        {
            get { ushort port = 0; Run(h => Native.ferrowg_tunnel_listen_port(h, out port)); return port; }
        }

        /// <summary>The network changed: reopen the UDP sockets.</summary>
        public void NetworkChanged() { Run(h => Native.ferrowg_tunnel_network_changed(h)); }

        /// <summary>Bind the UDP sockets to the physical interface with this index (0: none),
        /// e.g. the default route's interface, so the tunnel's own packets cannot loop into it.
        /// Kept across NetworkChanged; call again when the default route moves.</summary>
        public void SetBoundInterface(uint index) { Run(h => Native.ferrowg_tunnel_set_bound_interface(h, index)); }
        /// <summary>The machine is about to sleep: close the UDP sockets and stop the timers
        /// until Resume (nothing stale fires, nothing goes out).</summary>
        public void Suspend() { Run(h => Native.ferrowg_tunnel_suspend(h)); }
        /// <summary>The machine woke from sleep: end a Suspend, reopen the sockets and
        /// re-handshake at once where needed.</summary>
        public void Resume() { Run(h => Native.ferrowg_tunnel_resume(h)); }

        public PeerStats[] PeerStats()
        {
            UIntPtr count = UIntPtr.Zero;
            int size = Marshal.SizeOf(typeof(Native.PeerStatsRaw));
            for (int attempt = 0; ; attempt++)
            {
                int capacity = (int)count.ToUInt32() + 4;
                IntPtr buf = Marshal.AllocHGlobal(size * capacity);
                try
                {
                    int rc = Call(h => Native.ferrowg_tunnel_peer_stats(h, buf, new UIntPtr((uint)capacity), out count));
                    if (rc == (int)ErrorCode.BufferTooSmall && attempt < 3) continue;
                    Native.Check(rc);
                    var result = new PeerStats[(int)count.ToUInt32()];
                    for (int i = 0; i < result.Length; i++)
                    {
                        var raw = (Native.PeerStatsRaw)Marshal.PtrToStructure(new IntPtr(buf.ToInt64() + i * size), typeof(Native.PeerStatsRaw));
                        result[i] = new PeerStats
                        {
                            PublicKey = Convert.ToBase64String(raw.PublicKey),
                            LastHandshakeUnixMs = raw.LastHandshakeUnixMs,
                            RxBytes = raw.RxBytes, TxBytes = raw.TxBytes,
                            RxPackets = raw.RxPackets, TxPackets = raw.TxPackets,
                            Handshakes = raw.Handshakes, DroppedPackets = raw.DroppedPackets,
                        };
                    }
                    return result;
                }
                finally
                {
                    Marshal.FreeHGlobal(buf);
                }
            }
        }

        /// <summary>Host mode: pushes one IP packet, waiting up to timeoutMs for room.</summary>
        public void WritePacket(byte[] packet, uint timeoutMs)
        {
            Run(h => Native.ferrowg_tunnel_write_packet(h, packet, new UIntPtr((uint)packet.Length), timeoutMs));
        }

        /// <summary>Host mode: pulls one IP packet, or null after timeoutMs.</summary>
        public byte[] ReadPacket(uint timeoutMs)
        {
            var buf = new byte[65536];
            UIntPtr len = UIntPtr.Zero;
            Run(h => Native.ferrowg_tunnel_read_packet(h, buf, new UIntPtr((uint)buf.Length), out len, timeoutMs));
            int n = (int)len.ToUInt32();
            if (n == 0) return null;
            var packet = new byte[n];
            Buffer.BlockCopy(buf, 0, packet, 0, n);
            return packet;
        }

        /// <summary>Installs (null: removes) the event handler, called from library threads.
        /// After this returns the previous handler is never called again.</summary>
        public void SetEventHandler(Action<TunnelEvent> handler)
        {
            Native.EventFn fn = null;
            if (handler != null)
            {
                fn = (ctx, evPtr) =>
                {
                    try
                    {
                        var raw = (Native.Event)Marshal.PtrToStructure(evPtr, typeof(Native.Event));
                        handler(new TunnelEvent
                        {
                            Kind = (EventKind)raw.Kind,
                            Peer = Native.FromUtf8(raw.Peer),
                            Endpoint = Native.FromUtf8(raw.Endpoint),
                            Message = Native.FromUtf8(raw.Message),
                        });
                    }
                    catch (Exception) { Library.CallbackFailed(); }
                };
            }
            lock (callbackLock)
            {
                Run(h => Native.ferrowg_tunnel_set_event_callback(h, fn, IntPtr.Zero));
                handle.EventFn = fn;
            }
        }

        /// <summary>Host mode: delivers incoming packets to handler (null: queue them for
        /// ReadPacket). After this returns the previous handler is never called again.</summary>
        public void SetPacketHandler(Action<byte[]> handler)
        {
            Native.PacketFn fn = null;
            if (handler != null)
            {
                fn = (ctx, packets, lengths, count) =>
                {
                    try
                    {
                        for (long i = 0; i < (long)count.ToUInt64(); i++)
                        {
                            IntPtr p = Marshal.ReadIntPtr(packets, (int)(i * IntPtr.Size));
                            long len = Marshal.ReadIntPtr(lengths, (int)(i * IntPtr.Size)).ToInt64();
                            var packet = new byte[len];
                            Marshal.Copy(p, packet, 0, (int)len);
                            handler(packet);
                        }
                    }
                    catch (Exception) { Library.CallbackFailed(); }
                };
            }
            lock (callbackLock)
            {
                Run(h => Native.ferrowg_tunnel_set_packet_callback(h, fn, IntPtr.Zero));
                handle.PacketFn = fn;
            }
        }

        /// <summary>Stops the tunnel (idempotent); the object stays until disposed.</summary>
        public void Stop() { Run(h => Native.ferrowg_tunnel_stop(h)); }

        /// <summary>Stops and frees the tunnel. Calls after it throw ObjectDisposedException;
        /// calls in flight on other threads finish first.</summary>
        public void Dispose()
        {
            handle.Dispose();
        }
    }
}
