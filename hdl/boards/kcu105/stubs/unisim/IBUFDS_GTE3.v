// Port-list stand-in for the UltraScale GT reference-clock buffer, used by
// the lint check only (yosys synth_xilinx -family xcu has its own model).
`default_nettype none
module IBUFDS_GTE3 #(
    parameter [0:0] REFCLK_EN_TX_PATH = 1'b0,
    parameter [1:0] REFCLK_HROW_CK_SEL = 2'b00,
    parameter [1:0] REFCLK_ICNTL_RX = 2'b00
) (
    output wire O,
    output wire ODIV2,
    input  wire CEB,
    input  wire I,
    input  wire IB
);
endmodule
`default_nettype wire
