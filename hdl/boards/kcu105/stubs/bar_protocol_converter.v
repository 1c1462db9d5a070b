// Black-box stand-in for the Xilinx AXI Protocol Converter
// (axi_protocol_converter, PG059) instance `bar_protocol_converter` that
// build.tcl generates: AXI4 (32-bit data, 64-bit addresses, 4-bit IDs, which
// it returns on B and R) to AXI4-Lite for the register bridge, one clock
// (axi_aclk).
// Only the port list matters: it lets Verilator and yosys check the board
// top without the vendor IP. Port names follow PG059's tables for the AXI
// infrastructure cores (AXI4, no ID signals where ID_WIDTH is 0, only the
// write channels where READ_WRITE_MODE is WRITE_ONLY). The real stub is
// written by Vivado next to the generated IP (<ip>_stub.v); build.tcl compares
// the port names and stops if they differ. [UNVERIFIED: not checked against a
// Vivado run (none on this machine).]
`default_nettype none
module bar_protocol_converter (
    input  wire           aclk,
    input  wire           aresetn,
    input  wire [3:0]     s_axi_awid,
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
    input  wire [31:0]    s_axi_wdata,
    input  wire [3:0]     s_axi_wstrb,
    input  wire           s_axi_wlast,
    input  wire           s_axi_wvalid,
    output wire           s_axi_wready,
    output wire [3:0]     s_axi_bid,
    output wire [1:0]     s_axi_bresp,
    output wire           s_axi_bvalid,
    input  wire           s_axi_bready,
    input  wire [3:0]     s_axi_arid,
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
    output wire [3:0]     s_axi_rid,
    output wire [31:0]    s_axi_rdata,
    output wire [1:0]     s_axi_rresp,
    output wire           s_axi_rlast,
    output wire           s_axi_rvalid,
    input  wire           s_axi_rready,
    output wire [63:0]    m_axi_awaddr,
    output wire [2:0]     m_axi_awprot,
    output wire           m_axi_awvalid,
    input  wire           m_axi_awready,
    output wire [31:0]    m_axi_wdata,
    output wire [3:0]     m_axi_wstrb,
    output wire           m_axi_wvalid,
    input  wire           m_axi_wready,
    input  wire [1:0]     m_axi_bresp,
    input  wire           m_axi_bvalid,
    output wire           m_axi_bready,
    output wire [63:0]    m_axi_araddr,
    output wire [2:0]     m_axi_arprot,
    output wire           m_axi_arvalid,
    input  wire           m_axi_arready,
    input  wire [31:0]    m_axi_rdata,
    input  wire [1:0]     m_axi_rresp,
    input  wire           m_axi_rvalid,
    output wire           m_axi_rready
);
endmodule
`default_nettype wire
