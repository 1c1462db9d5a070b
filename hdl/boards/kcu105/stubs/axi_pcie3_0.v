// Black-box stand-in for the Xilinx AXI Bridge for PCI Express Gen3
// Subsystem (axi_pcie3, PG194) instance `axi_pcie3_0` that build.tcl
// generates with create_ip. Only the port list matters: it lets Verilator and
// yosys check the board top without the vendor IP. It is written for exactly
// build.tcl's configuration (KU040 endpoint, Gen3 x8, 256-bit AXI at
// 250 MHz, 64-bit AXI addresses, one 1 MiB PCIe BAR onto M_AXI, one AXI BAR
// behind S_AXI, MSI) with the port names of PG194's port tables (global, AXI
// slave, AXI master, AXI4-Lite control, MSI signals). The ID widths (4) are
// our reading of the IP's defaults. The real stub is written by Vivado next
// to the generated IP (<project>.gen/sources_1/ip/axi_pcie3_0/
// axi_pcie3_0_stub.v); build.tcl compares the port names and stops if they
// differ. [UNVERIFIED: not checked against a Vivado run (none on this machine).]
`default_nettype none
module axi_pcie3_0 (
    // Global.
    input  wire         refclk,           // 100 MHz PCIe refclk, IBUFDS_GTE3 ODIV2
    input  wire         sys_clk_gt,       // same clock, IBUFDS_GTE3 O (to the GTs)
    input  wire         sys_rst_n,        // PERST#
    output wire         axi_aclk,         // 250 MHz: M_AXI, S_AXI and MSI signals
    output wire         axi_aresetn,
    output wire         axi_ctl_aresetn,
    input  wire         axi_ctl_aclk,     // S_AXI_CTL clock (fed axi_aclk)
    output wire         user_link_up,
    output wire         interrupt_out,    // bridge's own interrupt (root port use)
    output wire [7:0]   pci_exp_txp,
    output wire [7:0]   pci_exp_txn,
    input  wire [7:0]   pci_exp_rxp,
    input  wire [7:0]   pci_exp_rxn,
    // MSI: a rising intx_msi_request sends vector msi_vector_num.
    input  wire         intx_msi_request,
    output wire         intx_msi_grant,
    output wire         msi_enable,
    input  wire [4:0]   msi_vector_num,
    output wire [2:0]   msi_vector_width,
    // AXI4 slave: the card's memory writes and reads towards the host.
    input  wire [3:0]   s_axi_awid,
    input  wire [63:0]  s_axi_awaddr,
    input  wire [3:0]   s_axi_awregion,
    input  wire [7:0]   s_axi_awlen,
    input  wire [2:0]   s_axi_awsize,
    input  wire [1:0]   s_axi_awburst,
    input  wire         s_axi_awvalid,
    output wire         s_axi_awready,
    input  wire [255:0] s_axi_wdata,
    input  wire [31:0]  s_axi_wstrb,
    input  wire         s_axi_wlast,
    input  wire         s_axi_wvalid,
    output wire         s_axi_wready,
    output wire [3:0]   s_axi_bid,
    output wire [1:0]   s_axi_bresp,
    output wire         s_axi_bvalid,
    input  wire         s_axi_bready,
    input  wire [3:0]   s_axi_arid,
    input  wire [63:0]  s_axi_araddr,
    input  wire [3:0]   s_axi_arregion,
    input  wire [7:0]   s_axi_arlen,
    input  wire [2:0]   s_axi_arsize,
    input  wire [1:0]   s_axi_arburst,
    input  wire         s_axi_arvalid,
    output wire         s_axi_arready,
    output wire [3:0]   s_axi_rid,
    output wire [255:0] s_axi_rdata,
    output wire [1:0]   s_axi_rresp,
    output wire         s_axi_rlast,
    output wire         s_axi_rvalid,
    input  wire         s_axi_rready,
    // AXI4 master: the host's accesses to the PCIe BAR.
    output wire [3:0]   m_axi_awid,
    output wire [63:0]  m_axi_awaddr,
    output wire [7:0]   m_axi_awlen,
    output wire [2:0]   m_axi_awsize,
    output wire [1:0]   m_axi_awburst,
    output wire [2:0]   m_axi_awprot,
    output wire         m_axi_awvalid,
    input  wire         m_axi_awready,
    output wire         m_axi_awlock,
    output wire [3:0]   m_axi_awcache,
    output wire [255:0] m_axi_wdata,
    output wire [31:0]  m_axi_wstrb,
    output wire         m_axi_wlast,
    output wire         m_axi_wvalid,
    input  wire         m_axi_wready,
    input  wire [3:0]   m_axi_bid,
    input  wire [1:0]   m_axi_bresp,
    input  wire         m_axi_bvalid,
    output wire         m_axi_bready,
    output wire [3:0]   m_axi_arid,
    output wire [63:0]  m_axi_araddr,
    output wire [7:0]   m_axi_arlen,
    output wire [2:0]   m_axi_arsize,
    output wire [1:0]   m_axi_arburst,
    output wire [2:0]   m_axi_arprot,
    output wire         m_axi_arvalid,
    input  wire         m_axi_arready,
    output wire         m_axi_arlock,
    output wire [3:0]   m_axi_arcache,
    input  wire [3:0]   m_axi_rid,
    input  wire [255:0] m_axi_rdata,
    input  wire [31:0]  m_axi_ruser,      // read data parity, unused: tie 0
    input  wire [1:0]   m_axi_rresp,
    input  wire         m_axi_rlast,
    input  wire         m_axi_rvalid,
    output wire         m_axi_rready,
    // AXI4-Lite control interface (bridge registers): not used, tied idle.
    input  wire [31:0]  s_axi_ctl_awaddr,
    input  wire         s_axi_ctl_awvalid,
    output wire         s_axi_ctl_awready,
    input  wire [31:0]  s_axi_ctl_wdata,
    input  wire [3:0]   s_axi_ctl_wstrb,
    input  wire         s_axi_ctl_wvalid,
    output wire         s_axi_ctl_wready,
    output wire [1:0]   s_axi_ctl_bresp,
    output wire         s_axi_ctl_bvalid,
    input  wire         s_axi_ctl_bready,
    input  wire [31:0]  s_axi_ctl_araddr,
    input  wire         s_axi_ctl_arvalid,
    output wire         s_axi_ctl_arready,
    output wire [31:0]  s_axi_ctl_rdata,
    output wire [1:0]   s_axi_ctl_rresp,
    output wire         s_axi_ctl_rvalid,
    input  wire         s_axi_ctl_rready
);
endmodule
`default_nettype wire
