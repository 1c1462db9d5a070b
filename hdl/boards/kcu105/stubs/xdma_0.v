// Black-box stand-in for the Xilinx DMA/Bridge Subsystem for PCI Express
// (XDMA, PG195) instance `xdma_0` that build.tcl generates with create_ip.
// Only the port list matters: it lets Verilator and yosys check the board top
// without the vendor IP. It is written for exactly build.tcl's configuration
// (KU040, Gen3 x8, AXI-Stream DMA with one H2C and one C2H channel at 256
// bits, AXI-Lite master BAR enabled, one user interrupt, MSI) and follows the
// port names of the synthesis stub Vivado writes for such an instance. The
// real stub is written by Vivado next to the generated IP
// (<project>.gen/sources_1/ip/xdma_0/xdma_0_stub.v); if the two differ, the
// real one wins and this file and the top are updated to match. NOT verified
// against a Vivado run here (no Vivado on this machine).
`default_nettype none
module xdma_0 (
    input  wire         sys_clk,          // 100 MHz PCIe refclk, IBUFDS_GTE3 ODIV2
    input  wire         sys_clk_gt,       // same clock, IBUFDS_GTE3 O (to the GTs)
    input  wire         sys_rst_n,        // PERST#
    output wire         user_lnk_up,
    output wire [7:0]   pci_exp_txp,
    output wire [7:0]   pci_exp_txn,
    input  wire [7:0]   pci_exp_rxp,
    input  wire [7:0]   pci_exp_rxn,
    output wire         axi_aclk,         // 250 MHz user clock (Gen3 x8, 256-bit)
    output wire         axi_aresetn,
    input  wire [0:0]   usr_irq_req,
    output wire [0:0]   usr_irq_ack,
    output wire         msi_enable,
    output wire [2:0]   msi_vector_width,
    // AXI4-Lite master: host accesses to the AXI-Lite BAR (BAR0).
    output wire [31:0]  m_axil_awaddr,
    output wire [2:0]   m_axil_awprot,
    output wire         m_axil_awvalid,
    input  wire         m_axil_awready,
    output wire [31:0]  m_axil_wdata,
    output wire [3:0]   m_axil_wstrb,
    output wire         m_axil_wvalid,
    input  wire         m_axil_wready,
    input  wire         m_axil_bvalid,
    input  wire [1:0]   m_axil_bresp,
    output wire         m_axil_bready,
    output wire [31:0]  m_axil_araddr,
    output wire [2:0]   m_axil_arprot,
    output wire         m_axil_arvalid,
    input  wire         m_axil_arready,
    input  wire [31:0]  m_axil_rdata,
    input  wire [1:0]   m_axil_rresp,
    input  wire         m_axil_rvalid,
    output wire         m_axil_rready,
    // DMA streams (unused until the host rings move to DMA).
    input  wire [255:0] s_axis_c2h_tdata_0,
    input  wire         s_axis_c2h_tlast_0,
    input  wire         s_axis_c2h_tvalid_0,
    output wire         s_axis_c2h_tready_0,
    input  wire [31:0]  s_axis_c2h_tkeep_0,
    output wire [255:0] m_axis_h2c_tdata_0,
    output wire         m_axis_h2c_tlast_0,
    output wire         m_axis_h2c_tvalid_0,
    input  wire         m_axis_h2c_tready_0,
    output wire [31:0]  m_axis_h2c_tkeep_0,
    // QPLL1 status of the PCIe GT quads (Gen3 uses QPLL1).
    output wire [1:0]   int_qpll1lock_out,
    output wire [1:0]   int_qpll1outrefclk_out,
    output wire [1:0]   int_qpll1outclk_out
);
endmodule
`default_nettype wire
