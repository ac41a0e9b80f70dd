// The C# full-tunnel sample of docs/embedding.md (bindings/check-samples.py keeps the
// doc's copy equal to the part between the sample markers). Compiled with the tests by
// bindings/run-tests.sh, so the API names are checked; not run (it needs wintun and
// administrator rights).
using System;
using Ferrowg;

// sample:begin
/// <summary>A full tunnel in a Windows service (LocalSystem): kill switch first, so nothing
/// leaks while the tunnel comes up; then the wintun adapter and the engine; then the
/// network plan. Power and network events go to the tunnel.</summary>
public sealed class FullTunnelService : IDisposable
{
    const string Adapter = "ferrowg0";
    Tunnel tunnel;
    NetworkSetup network;

    /// <param name="configText">The wg-quick file (Address, DNS, MTU, peers).</param>
    /// <param name="physicalIfIndex">The interface index of the current default route.</param>
    public void Start(string configText, uint physicalIfIndex)
    {
        // Everything but the adapter, the peers' endpoints, loopback, DHCP/NDP is blocked,
        // DNS only through the tunnel (to the file's DNS servers); persistent WFP filters,
        // so the block outlives a crash of this service until KillSwitch.Disable.
        KillSwitch.Enable(Adapter, configText, false);
        tunnel = Tunnel.StartAdapter(configText, Adapter);   // the file's MTU, default 1420
        // The tunnel's own UDP leaves through the physical interface, never into the tunnel.
        tunnel.SetBoundInterface(physicalIfIndex);
        // The file's network plan on the adapter, through IP Helper: addresses, MTU and
        // interface metric, routes (0.0.0.0/0 and ::/0 as /1 halves), DNS servers. On an
        // error nothing is left set; Dispose undoes exactly these changes.
        network = NetworkSetup.Apply(Adapter, configText);
    }

    /// <summary>PBT_APMSUSPEND / PBT_APMRESUMEAUTOMATIC.</summary>
    public void OnPowerEvent(bool suspending)
    {
        if (suspending) tunnel.Suspend(); else tunnel.Resume();
    }

    /// <summary>The default route moved (NotifyRouteChange2).</summary>
    public void OnDefaultRouteChanged(uint physicalIfIndex)
    {
        tunnel.SetBoundInterface(physicalIfIndex);
        tunnel.NetworkChanged();
    }

    /// <summary>A clean stop: the network plan, the tunnel, then the kill switch.</summary>
    public void Dispose()
    {
        if (network != null) network.Dispose();
        network = null;
        if (tunnel != null) tunnel.Dispose();
        tunnel = null;
        KillSwitch.Disable(Adapter);
    }
}
// sample:end
