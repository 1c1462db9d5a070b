// Black-box stand-in for the Xilinx 10G Ethernet Subsystem (axi_10g_ethernet,
// PG157) instance `axi_10g_ethernet_0` that build.tcl generates: MAC + 10GBASE-R
// PCS/PMA on one GTH channel, shared logic (QPLL, clocking, reset) inside the
// core, AXI4-Lite management, statistics vectors. The port list follows the
// synthesis stub Vivado writes for that configuration (checked against a
// published 7-series stub of the same configuration; the UltraScale GTH
// variant may add or rename clocking ports). The real stub appears next to
// the generated IP (xxx.gen/sources_1/ip/axi_10g_ethernet_0/
// axi_10g_ethernet_0_stub.v) and wins if they differ. NOT verified against a
// Vivado run here (no Vivado on this machine).
`default_nettype none
module axi_10g_ethernet_0 (
    input  wire         tx_axis_aresetn,
    input  wire         rx_axis_aresetn,
    input  wire [7:0]   tx_ifg_delay,
    input  wire         dclk,                 // free-running DRP/management clock
    output wire         txp,
    output wire         txn,
    input  wire         rxp,
    input  wire         rxn,
    input  wire         signal_detect,
    input  wire         tx_fault,
    output wire         tx_disable,
    output wire [7:0]   pcspma_status,        // bit 0: PCS block lock
    input  wire         sim_speedup_control,
    output wire         rxrecclk_out,
    input  wire         s_axi_aclk,
    input  wire         s_axi_aresetn,
    output wire         xgmacint,
    output wire         areset_datapathclk_out,
    output wire         txusrclk_out,
    output wire         txusrclk2_out,
    output wire         gttxreset_out,
    output wire         gtrxreset_out,
    output wire         txuserrdy_out,
    output wire         coreclk_out,          // 156.25 MHz; both AXI streams run on it
    output wire         resetdone_out,
    output wire         reset_counter_done_out,
    output wire         qplllock_out,
    output wire         qplloutclk_out,
    output wire         qplloutrefclk_out,
    input  wire         refclk_p,             // 156.25 MHz MGT reference clock
    input  wire         refclk_n,
    input  wire         reset,                // active-high asynchronous reset
    input  wire [10:0]  s_axi_araddr,
    output wire         s_axi_arready,
    input  wire         s_axi_arvalid,
    input  wire [10:0]  s_axi_awaddr,
    output wire         s_axi_awready,
    input  wire         s_axi_awvalid,
    input  wire         s_axi_bready,
    output wire [1:0]   s_axi_bresp,
    output wire         s_axi_bvalid,
    output wire [31:0]  s_axi_rdata,
    input  wire         s_axi_rready,
    output wire [1:0]   s_axi_rresp,
    output wire         s_axi_rvalid,
    input  wire [31:0]  s_axi_wdata,
    output wire         s_axi_wready,
    input  wire         s_axi_wvalid,
    input  wire [63:0]  s_axis_tx_tdata,
    input  wire [7:0]   s_axis_tx_tkeep,
    input  wire         s_axis_tx_tlast,
    output wire         s_axis_tx_tready,
    input  wire [0:0]   s_axis_tx_tuser,      // 1 aborts the frame (underrun)
    input  wire         s_axis_tx_tvalid,
    input  wire [15:0]  s_axis_pause_tdata,
    input  wire         s_axis_pause_tvalid,
    output wire [63:0]  m_axis_rx_tdata,
    output wire [7:0]   m_axis_rx_tkeep,
    output wire         m_axis_rx_tlast,
    output wire         m_axis_rx_tuser,      // on the last beat: 1 good frame, 0 bad
    output wire         m_axis_rx_tvalid,     // no tready: the MAC cannot be stalled
    output wire         tx_statistics_valid,
    output wire [25:0]  tx_statistics_vector,
    output wire         rx_statistics_valid,
    output wire [29:0]  rx_statistics_vector
);
endmodule
`default_nettype wire
