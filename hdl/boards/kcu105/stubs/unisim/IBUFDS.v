// Port-list stand-in for the differential input buffer, for Verilator lint
// only (yosys synth_xilinx brings its own model).
`default_nettype none
module IBUFDS (
    output wire O,
    input  wire I,
    input  wire IB
);
endmodule
`default_nettype wire
