// Black-box stand-in for the Xilinx AXI Data Width Converter
// (axi_dwidth_converter, PG059) instance `dma_width_converter` that build.tcl
// generates: AXI4 upsizer from the core's 64-bit data to the PCIe bridge's
// 256-bit slave port, 64-bit addresses, no ID, read and write channels, one clock
// (axi_aclk).
// Only the port list matters: it lets Verilator and yosys check the board
// top without the vendor IP. Port names follow PG059's tables for the AXI
// infrastructure cores (AXI4, no ID signals where ID_WIDTH is 0, only the
// write channels where READ_WRITE_MODE is WRITE_ONLY). The real stub is
// written by Vivado next to the generated IP (<ip>_stub.v); build.tcl compares
// the port names and stops if they differ. [UNVERIFIED: not checked against a
// Vivado run (none on this machine).]
`default_nettype none
module dma_width_converter (
    input  wire           s_axi_aclk,
    input  wire           s_axi_aresetn,
    input  wire [63:0]    s_axi_awaddr,
    input  wire [7:0]     s_axi_awlen,
    input  wire [2:0]     s_axi_awsize,
    input  wire [1:0]     s_axi_awburst,
    input  wire [0:0]     s_axi_awlock,
    input  wire [3:0]     s_axi_awcache,
    input  wire [2:0]     s_axi_awprot,
    input  wire [3:0]     s_axi_awregion,
    input  wire [3:0]     s_axi_awqos,
    input  wire           s_axi_awvalid,
    output wire           s_axi_awready,
    input  wire [63:0]    s_axi_wdata,
    input  wire [7:0]     s_axi_wstrb,
    input  wire           s_axi_wlast,
    input  wire           s_axi_wvalid,
    output wire           s_axi_wready,
    output wire [1:0]     s_axi_bresp,
    output wire           s_axi_bvalid,
    input  wire           s_axi_bready,
    input  wire [63:0]    s_axi_araddr,
    input  wire [7:0]     s_axi_arlen,
    input  wire [2:0]     s_axi_arsize,
    input  wire [1:0]     s_axi_arburst,
    input  wire [0:0]     s_axi_arlock,
    input  wire [3:0]     s_axi_arcache,
    input  wire [2:0]     s_axi_arprot,
    input  wire [3:0]     s_axi_arregion,
    input  wire [3:0]     s_axi_arqos,
    input  wire           s_axi_arvalid,
    output wire           s_axi_arready,
    output wire [63:0]    s_axi_rdata,
    output wire [1:0]     s_axi_rresp,
    output wire           s_axi_rlast,
    output wire           s_axi_rvalid,
    input  wire           s_axi_rready,
    output wire [63:0]    m_axi_awaddr,
    output wire [7:0]     m_axi_awlen,
    output wire [2:0]     m_axi_awsize,
    output wire [1:0]     m_axi_awburst,
    output wire [0:0]     m_axi_awlock,
    output wire [3:0]     m_axi_awcache,
    output wire [2:0]     m_axi_awprot,
    output wire [3:0]     m_axi_awregion,
    output wire [3:0]     m_axi_awqos,
    output wire           m_axi_awvalid,
    input  wire           m_axi_awready,
    output wire [255:0]   m_axi_wdata,
    output wire [31:0]    m_axi_wstrb,
    output wire           m_axi_wlast,
    output wire           m_axi_wvalid,
    input  wire           m_axi_wready,
    input  wire [1:0]     m_axi_bresp,
    input  wire           m_axi_bvalid,
    output wire           m_axi_bready,
    output wire [63:0]    m_axi_araddr,
    output wire [7:0]     m_axi_arlen,
    output wire [2:0]     m_axi_arsize,
    output wire [1:0]     m_axi_arburst,
    output wire [0:0]     m_axi_arlock,
    output wire [3:0]     m_axi_arcache,
    output wire [2:0]     m_axi_arprot,
    output wire [3:0]     m_axi_arregion,
    output wire [3:0]     m_axi_arqos,
    output wire           m_axi_arvalid,
    input  wire           m_axi_arready,
    input  wire [255:0]   m_axi_rdata,
    input  wire [1:0]     m_axi_rresp,
    input  wire           m_axi_rlast,
    input  wire           m_axi_rvalid,
    output wire           m_axi_rready
);
endmodule
`default_nettype wire
