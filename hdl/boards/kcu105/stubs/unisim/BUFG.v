// Port-list stand-in for the global clock buffer, for Verilator lint only
// (yosys synth_xilinx brings its own model).
`default_nettype none
module BUFG (
    output wire O,
    input  wire I
);
endmodule
`default_nettype wire
