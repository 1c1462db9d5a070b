// Black-box stand-in for the Xilinx AXI Clock Converter (axi_clock_converter,
// PG059) instance `dma_clock_converter` that build.tcl generates: AXI4, 64-bit
// addresses and data, no ID, write channels only, asynchronous clocks (the
// core's 156.25 MHz on s_axi, the PCIe bridge's 250 MHz axi_aclk on m_axi).
// Only the port list matters: it lets Verilator and yosys check the board
// top without the vendor IP. Port names follow PG059's tables for the AXI
// infrastructure cores (AXI4, no ID signals where ID_WIDTH is 0, only the
// write channels where READ_WRITE_MODE is WRITE_ONLY). The real stub is
// written by Vivado next to the generated IP (<ip>_stub.v); build.tcl compares
// the port names and stops if they differ. [UNVERIFIED: not checked against a
// Vivado run (none on this machine).]
`default_nettype none
module dma_clock_converter (
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
    input  wire           m_axi_aclk,
    input  wire           m_axi_aresetn,
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
    output wire [63:0]    m_axi_wdata,
    output wire [7:0]     m_axi_wstrb,
    output wire           m_axi_wlast,
    output wire           m_axi_wvalid,
    input  wire           m_axi_wready,
    input  wire [1:0]     m_axi_bresp,
    input  wire           m_axi_bvalid,
    output wire           m_axi_bready
);
endmodule
`default_nettype wire
